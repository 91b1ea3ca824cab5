"""The retrieval runner: every conversation is measured as if it were the only one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from evermem_integrations import EverMem
from evermem_integrations.bench.corpus import BenchConversation, BenchQuestion, BenchTurn
from evermem_integrations.bench.runner import Servers, run_retrieval
from evermem_integrations.engine.models import Message
from tests.engine.write_path_support import vector_ids


def _conversation(conversation_id: str, texts: list[str]) -> BenchConversation:
    messages = [
        Message(
            id=f"{conversation_id}-{n}",
            sender="Ana",
            content=text,
            timestamp=datetime(2024, 1, 1 + n // 10, 10, n % 10, tzinfo=UTC),
        )
        for n, text in enumerate(texts)
    ]
    question = BenchQuestion(
        id=f"{conversation_id}-q",
        question="Where do I play tennis and guitar?",
        answer="at the club",
        category="single-hop",
        evidence=[messages[0].id],
        current_time=datetime(2024, 3, 1, tzinfo=UTC),
    )
    return BenchConversation(conversation_id, messages, [BenchTurn.of(m, m.timestamp) for m in messages], [question])


def test_a_conversations_figures_do_not_depend_on_the_others_in_the_run(tmp_path: Path) -> None:
    # In one embedded store, FTS5's BM25 statistics span every scope: sixty tennis turns of
    # another conversation would make "tennis" a common word for this one. LongMemEval's
    # haystacks share filler sessions, so a shared store ranked each by the others' words.
    crowd = _conversation("crowd", [f"Tennis match number {n} was fun, tennis is great." for n in range(60)])
    alone = _conversation(
        "alone", ["I play tennis every Sunday morning at the club.", "I play guitar every Sunday evening at home."]
    )
    options = {"budgets": [40], "methods": ["keyword"], "baselines": []}
    by_itself = run_retrieval([alone], **options).scores
    after_another = run_retrieval([crowd, alone], store_path=tmp_path / "kept", **options).scores
    assert [s for s in after_another if s.conversation == "alone"] == by_itself
    assert by_itself[0].evidence_recall == 1.0
    # --store keeps each conversation's store in a folder of its own
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == ["alone", "crowd"]


def test_on_the_server_pair_the_figures_are_the_embedded_ones_and_nothing_is_left(
    database_url: str, chroma_url: str
) -> None:
    # PostgreSQL's BM25 statistics are each scope's own: one database, same figures.
    conversations = [
        _conversation("crowd", [f"Tennis match number {n} was fun, tennis is great." for n in range(30)]),
        _conversation(
            "alone", ["I play tennis every Sunday morning at the club.", "I play guitar every Sunday evening at home."]
        ),
    ]
    options = {"budgets": [40, 200], "methods": ["keyword", "hybrid"], "baselines": []}
    embedded = run_retrieval(conversations, **options).scores
    servers = Servers(database_url=database_url, chroma_url=chroma_url)
    assert run_retrieval(conversations, servers=servers, **options).scores == embedded
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url) as mem:  # the servers as they were
        assert mem.scopes() == []
        assert vector_ids(mem, "group=crowd") == vector_ids(mem, "group=alone") == set()
