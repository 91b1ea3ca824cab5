"""The raw-turn baselines on a small hand-made conversation, with the default embedder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evermem_integrations.bench.baselines import (
    BM25Turns,
    DenseTurns,
    FullContext,
    HybridTurns,
    LangChainRAG,
    make_baseline,
)
from evermem_integrations.bench.corpus import BenchConversation, BenchQuestion, BenchTurn
from evermem_integrations.engine.embeddings import StaticEmbedder
from evermem_integrations.engine.tokens import count_tokens
from evermem_integrations.errors import ConfigurationError

DAY1 = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
DAY2 = datetime(2023, 6, 2, 9, 0, tzinfo=UTC)
LINES = [
    (DAY1, "Caroline", "I went to the LGBTQ support group yesterday, it was powerful.", None),
    (DAY1, "Melanie", "That sounds inspiring! I painted a sunset over the lake last week.", None),
    (DAY1, "Caroline", "Look at this one.", "a photo of a rainbow flag on a porch"),
    (DAY2, "Melanie", "We adopted a beagle named Biscuit from the shelter.", None),
    (DAY2, "Caroline", "Biscuit is adorable! I am applying to counseling programs in the fall.", None),
    (DAY2, "Melanie", "My kids started swimming lessons at the community pool.", None),
]


@pytest.fixture
def conversation() -> BenchConversation:
    turns = [
        BenchTurn(
            id=f"D{1 if day == DAY1 else 2}:{i}",
            speaker=who,
            text=text,
            timestamp=day + timedelta(seconds=30 * i),
            session_date=day,
            caption=cap,
        )
        for i, (day, who, text, cap) in enumerate(LINES)
    ]
    question = BenchQuestion("q1", "What is the name of Melanie's beagle?", "Biscuit", "single-hop", ["D2:3"], DAY2)
    return BenchConversation("c1", [], turns, [question])


def test_turns_render_with_session_date_speaker_and_caption(conversation: BenchConversation) -> None:
    assert (
        conversation.turns[0].line
        == "[8 May 2023] Caroline: I went to the LGBTQ support group yesterday, it was powerful."
    )
    assert conversation.turns[2].line.endswith(
        "Look at this one. [shared an image: a photo of a rainbow flag on a porch]"
    )


def test_full_context_holds_every_turn_whatever_the_budget(conversation: BenchConversation) -> None:
    system = FullContext()
    system.index(conversation)
    retrieval = system.retrieve(conversation, conversation.questions[0], 10)
    assert retrieval.claimed_ids == {t.id for t in conversation.turns}
    assert retrieval.context.splitlines() == [t.line for t in conversation.turns]
    assert retrieval.context_tokens == count_tokens(retrieval.context) > 10


def test_bm25_ranks_the_turn_with_the_rare_words_first(conversation: BenchConversation) -> None:
    system = BM25Turns()
    system.index(conversation)
    assert system.rank("beagle Biscuit")[0].id == "D2:3"
    # Porter stemming: "swim" finds "swimming"; a word in no turn finds nothing
    assert [t.id for t in system.rank("swim")] == ["D2:5"]
    assert system.rank("xylophone") == []
    retrieval = system.retrieve(conversation, conversation.questions[0], 30)
    assert "D2:3" in retrieval.claimed_ids
    assert retrieval.context_tokens <= 30
    system.close()


def test_packing_fits_the_budget_and_renders_in_time_order(conversation: BenchConversation) -> None:
    system = BM25Turns()
    system.index(conversation)
    question = BenchQuestion("q2", "Biscuit sunset support group", None, "x", [], DAY2)
    for budget in (20, 40, 80):
        retrieval = system.retrieve(conversation, question, budget)
        assert retrieval.context_tokens <= budget
        order = [line for line in (t.line for t in conversation.turns) if line in retrieval.context.splitlines()]
        assert retrieval.context.splitlines() == order
    assert system.retrieve(conversation, question, 5).context == ""  # no turn fits
    system.close()


def test_dense_turns_use_the_given_embedder(conversation: BenchConversation) -> None:
    calls: list[list[str]] = []
    embedder = StaticEmbedder()
    real = embedder.embed

    def spy(texts: list[str]):  # type: ignore[no-untyped-def]
        calls.append(list(texts))
        return real(texts)

    embedder.embed = spy  # type: ignore[method-assign]
    system = DenseTurns(embedder)
    system.index(conversation)
    assert calls[0] == [t.body for t in conversation.turns]
    ranked = system.rank("adopted a beagle dog from the shelter")
    assert calls[-1] == ["adopted a beagle dog from the shelter"]
    assert sorted(t.id for t in ranked) == sorted(t.id for t in conversation.turns)
    assert ranked[0].id == "D2:3"


def test_hybrid_turns_fuse_bm25_and_dense_rankings(conversation: BenchConversation) -> None:
    """A turn found by either ranker is in the fused ranking; one found by both leads it."""
    system = HybridTurns(StaticEmbedder())
    system.index(conversation)
    bm25 = [t.id for t in system.lexical.rank("beagle shelter")]
    dense = [t.id for t in system.dense.rank("beagle shelter")]
    fused = [t.id for t in system.rank("beagle shelter")]
    assert fused[0] == bm25[0] == dense[0] == "D2:3"
    assert sorted(fused) == sorted(t.id for t in conversation.turns)  # dense ranks every turn
    # a word no turn holds: the lexical side is empty, the dense side still ranks
    assert [t.id for t in system.rank("xylophone")] == [t.id for t in system.dense.rank("xylophone")]
    retrieval = system.retrieve(conversation, conversation.questions[0], 40)
    assert "D2:3" in retrieval.claimed_ids
    assert retrieval.context_tokens <= 40
    system.close()


def test_langchain_rag_is_a_chroma_store_with_one_document_per_message(conversation: BenchConversation) -> None:
    system = LangChainRAG(StaticEmbedder())
    system.index(conversation)
    store = system._store
    stored = store.get(include=["documents", "metadatas", "embeddings"])
    assert sorted(stored["ids"]) == sorted(t.id for t in conversation.turns)
    assert set(stored["documents"]) == {t.body for t in conversation.turns}
    assert len(stored["embeddings"][0]) == StaticEmbedder().embed(["x"]).shape[1]
    retrieval = system.retrieve(conversation, conversation.questions[0], 60)
    assert retrieval.context_tokens <= 60
    assert "D2:3" in retrieval.claimed_ids
    system.close()
    assert system._store is None


def test_unknown_baseline_is_refused_with_the_choices() -> None:
    with pytest.raises(ConfigurationError, match="full, bm25, dense, hybrid, langchain"):
        make_baseline("tfidf", StaticEmbedder())


def test_retrieve_before_index_is_an_error(conversation: BenchConversation) -> None:
    with pytest.raises(ConfigurationError, match="index"):
        BM25Turns().retrieve(conversation, conversation.questions[0], 100)
