"""The systems a user would compare EverMem with, measured on the same turns and embedder.

* :class:`FullContext`: the whole conversation (the ceiling, whatever the budget);
* :class:`BM25Turns`: BM25 over raw turns (SQLite FTS5's ``bm25()``, Porter stemming);
* :class:`DenseTurns`: cosine similarity over raw turns (numpy, the engine's embedder);
* :class:`HybridTurns`: both rankings fused by reciprocal rank fusion, what a careful user
  builds by hand;
* :class:`LangChainRAG`: naive RAG as a LangChain user builds it today, a
  ``langchain_chroma.Chroma`` store with one document per message and ``similarity_search``.

Every baseline renders a turn as ``[session date] speaker: text`` and greedily packs its
ranked turns into the token budget; the chosen turns are shown in time order. Each context
item claims its own turn id, so evidence recall treats baselines and EverMem alike.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from evermem_integrations.bench.corpus import BenchConversation, BenchQuestion, BenchTurn
from evermem_integrations.engine.embeddings import Embedder
from evermem_integrations.engine.text import content_words, lexical_text, unique, words
from evermem_integrations.engine.tokens import count_tokens
from evermem_integrations.engine.vectors import chroma_client
from evermem_integrations.errors import ConfigurationError


@dataclass(frozen=True)
class Retrieval:
    """One system's context for one question at one budget."""

    context: str
    context_tokens: int
    claimed_ids: frozenset[str]
    items: int


class RetrievalSystem(Protocol):
    """What the runner asks of EverMem and of every baseline."""

    name: str
    budget_independent: bool

    def index(self, conversation: BenchConversation) -> None:
        """Ingest a conversation (timed by the runner as ingestion)."""
        ...

    def retrieve(self, conversation: BenchConversation, question: BenchQuestion, budget: int) -> Retrieval:
        """Build the context for ``question`` within ``budget`` tokens."""
        ...

    def close(self) -> None:
        """Release what the system holds."""
        ...


class TurnPacker:
    """Greedy packing of ranked turns into a token budget (turn token counts are cached)."""

    def __init__(self, turns: Sequence[BenchTurn]) -> None:
        self.turns = list(turns)
        self.position = {t.id: i for i, t in enumerate(self.turns)}
        self.cost = {t.id: count_tokens(t.line + "\n") for t in self.turns}

    def pack(self, ranked: Sequence[BenchTurn], budget: int) -> Retrieval:
        """Take turns by rank while they fit (a turn that does not fit is skipped), render in time order."""
        chosen: list[BenchTurn] = []
        used = 0
        cheapest = min(self.cost.values(), default=0)
        for turn in ranked:
            cost = self.cost[turn.id]
            if used + cost <= budget:
                chosen.append(turn)
                used += cost
            if budget - used < cheapest:
                break
        return self.render(chosen)

    def render(self, turns: Sequence[BenchTurn]) -> Retrieval:
        """The context of ``turns``: one line per turn, in conversation order."""
        ordered = sorted(turns, key=lambda t: self.position[t.id])
        context = "\n".join(t.line for t in ordered)
        return Retrieval(context, count_tokens(context), frozenset(t.id for t in ordered), len(ordered))


class FullContext:
    """The whole conversation, rendered turn by turn: the recall ceiling and its token cost."""

    name = "full-context"
    budget_independent = True

    def __init__(self) -> None:
        self._packer: TurnPacker | None = None
        self._all: Retrieval | None = None

    def index(self, conversation: BenchConversation) -> None:
        """Render the conversation once."""
        self._packer = TurnPacker(conversation.turns)
        self._all = self._packer.render(conversation.turns)

    def retrieve(self, conversation: BenchConversation, question: BenchQuestion, budget: int) -> Retrieval:
        """Every turn, whatever the budget."""
        if self._all is None:
            raise ConfigurationError("index() the conversation before retrieve()")
        return self._all

    def close(self) -> None:
        """Nothing to release."""


class BM25Turns:
    """BM25 over raw turns with SQLite FTS5 (``bm25()``: k1 = 1.2, b = 0.75, Porter stemming)."""

    name = "bm25-turns"
    budget_independent = False

    def __init__(self) -> None:
        self._db = sqlite3.connect(":memory:", check_same_thread=False)
        self._db.execute(
            "CREATE VIRTUAL TABLE turns USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
        self._turns: list[BenchTurn] = []
        self._packer: TurnPacker | None = None

    def index(self, conversation: BenchConversation) -> None:
        """Index every turn's body (speaker, words and caption)."""
        self._db.execute("DELETE FROM turns")
        self._turns = list(conversation.turns)
        self._db.executemany(
            "INSERT INTO turns (rowid, body) VALUES (?, ?)",
            [(i, lexical_text(t.body)) for i, t in enumerate(self._turns)],
        )
        self._db.commit()
        self._packer = TurnPacker(self._turns)

    def rank(self, query: str, limit: int | None = None) -> list[BenchTurn]:
        """Turns matching any query term, best BM25 score first."""
        terms = unique(content_words(query)) or unique(words(query))
        if not terms:
            return []
        expression = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        rows = self._db.execute(
            "SELECT rowid FROM turns WHERE turns MATCH ? ORDER BY bm25(turns) LIMIT ?",
            (expression, limit or len(self._turns)),
        ).fetchall()
        return [self._turns[row[0]] for row in rows]

    def retrieve(self, conversation: BenchConversation, question: BenchQuestion, budget: int) -> Retrieval:
        """The best BM25 turns packed into ``budget``."""
        if self._packer is None:
            raise ConfigurationError("index() the conversation before retrieve()")
        return self._packer.pack(self.rank(question.question), budget)

    def close(self) -> None:
        """Close the in-memory index."""
        self._db.close()


class DenseTurns:
    """Cosine similarity over raw turns, embedded with the same model as EverMem."""

    name = "dense-turns"
    budget_independent = False

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._turns: list[BenchTurn] = []
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._packer: TurnPacker | None = None

    def index(self, conversation: BenchConversation) -> None:
        """Embed every turn's body."""
        self._turns = list(conversation.turns)
        self._matrix = self.embedder.embed([t.body for t in self._turns])
        self._packer = TurnPacker(self._turns)

    def rank(self, query: str) -> list[BenchTurn]:
        """All turns, most similar first."""
        vector = self.embedder.embed([query])[0]
        order = np.argsort(-(self._matrix @ vector), kind="stable")
        return [self._turns[i] for i in order]

    def retrieve(self, conversation: BenchConversation, question: BenchQuestion, budget: int) -> Retrieval:
        """The most similar turns packed into ``budget``."""
        if self._packer is None:
            raise ConfigurationError("index() the conversation before retrieve()")
        return self._packer.pack(self.rank(question.question), budget)

    def close(self) -> None:
        """Nothing to release."""


class HybridTurns:
    """BM25 and dense rankings of raw turns fused by reciprocal rank fusion (k = 60, the usual constant)."""

    name = "hybrid-turns"
    budget_independent = False
    rrf_k = 60

    def __init__(self, embedder: Embedder) -> None:
        self.lexical = BM25Turns()
        self.dense = DenseTurns(embedder)
        self._packer: TurnPacker | None = None

    def index(self, conversation: BenchConversation) -> None:
        """Index every turn in both rankers."""
        self.lexical.index(conversation)
        self.dense.index(conversation)
        self._packer = TurnPacker(conversation.turns)

    def rank(self, query: str) -> list[BenchTurn]:
        """All turns by fused score: each ranker adds 1 / (k + rank) for a turn it ranks."""
        scores: dict[str, float] = {}
        turns: dict[str, BenchTurn] = {}
        for ranking in (self.lexical.rank(query), self.dense.rank(query)):
            for rank, turn in enumerate(ranking, start=1):
                scores[turn.id] = scores.get(turn.id, 0.0) + 1.0 / (self.rrf_k + rank)
                turns[turn.id] = turn
        return [turns[i] for i in sorted(scores, key=scores.__getitem__, reverse=True)]

    def retrieve(self, conversation: BenchConversation, question: BenchQuestion, budget: int) -> Retrieval:
        """The best fused turns packed into ``budget``."""
        if self._packer is None:
            raise ConfigurationError("index() the conversation before retrieve()")
        return self._packer.pack(self.rank(question.question), budget)

    def close(self) -> None:
        """Close the lexical index."""
        self.lexical.close()


def embeddings_adapter(embedder: Embedder) -> Any:
    """Our embedder as a LangChain ``Embeddings`` (so naive RAG uses the very same model)."""
    from langchain_core.embeddings import Embeddings

    class EmbedderEmbeddings(Embeddings):
        """LangChain ``Embeddings`` over an EverMem :class:`Embedder`."""

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embedder.embed(texts).tolist()

        def embed_query(self, text: str) -> list[float]:
            return embedder.embed([text])[0].tolist()

    return EmbedderEmbeddings()


class LangChainRAG:
    """Naive RAG as built with LangChain: Chroma over one Document per message, top-k packed.

    ``k`` grows with the budget (``budget // tokens_per_turn_guess`` documents, at least 4)
    the way a user would size it, and the documents found are packed into the budget.
    """

    name = "langchain-rag"
    budget_independent = False
    _counter = itertools.count()

    def __init__(self, embedder: Embedder, client: Any = None, tokens_per_turn_guess: int = 10) -> None:
        try:
            from langchain_chroma import Chroma
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ConfigurationError(
                "the naive-RAG baseline needs langchain-chroma: pip install 'evermem-integrations[bench]'"
            ) from exc
        self._chroma_cls = Chroma
        # The engine's in-memory client: Chroma allows one in-process client per settings.
        self._client = client or chroma_client()
        self._embeddings = embeddings_adapter(embedder)
        self._store: Any = None
        self._by_id: dict[str, BenchTurn] = {}
        self._packer: TurnPacker | None = None
        self.tokens_per_turn_guess = tokens_per_turn_guess

    def index(self, conversation: BenchConversation) -> None:
        """One ``Document`` per message, added to a fresh Chroma collection."""
        from langchain_core.documents import Document

        self.close()
        self._store = self._chroma_cls(
            collection_name=f"naive_rag_{next(self._counter)}", embedding_function=self._embeddings, client=self._client
        )
        turns = list(conversation.turns)
        self._by_id = {t.id: t for t in turns}
        documents = [
            Document(
                page_content=t.body,
                metadata={"turn_id": t.id, "speaker": t.speaker, "date": t.session_date.isoformat()},
            )
            for t in turns
        ]
        batch = 1000
        for start in range(0, len(documents), batch):
            chunk = documents[start : start + batch]
            self._store.add_documents(chunk, ids=[d.metadata["turn_id"] for d in chunk])
        self._packer = TurnPacker(turns)

    def retrieve(self, conversation: BenchConversation, question: BenchQuestion, budget: int) -> Retrieval:
        """``similarity_search`` with ``k`` sized to the budget, packed into it."""
        if self._packer is None or self._store is None:
            raise ConfigurationError("index() the conversation before retrieve()")
        k = min(len(self._by_id), max(4, budget // self.tokens_per_turn_guess))
        found = self._store.similarity_search(question.question, k=k)
        return self._packer.pack([self._by_id[d.metadata["turn_id"]] for d in found], budget)

    def close(self) -> None:
        """Drop the collection of the last conversation."""
        if self._store is not None:
            self._store.delete_collection()
            self._store = None


BASELINES = ("full", "bm25", "dense", "hybrid", "langchain")
"""Baseline names accepted by the runner and the CLI."""


def make_baseline(name: str, embedder: Embedder) -> RetrievalSystem:
    """Build a baseline by its short name (one of :data:`BASELINES`)."""
    if name == "full":
        return FullContext()
    if name == "bm25":
        return BM25Turns()
    if name == "dense":
        return DenseTurns(embedder)
    if name == "hybrid":
        return HybridTurns(embedder)
    if name == "langchain":
        return LangChainRAG(embedder)
    raise ConfigurationError(f"unknown baseline {name!r}; choose from {', '.join(BASELINES)}")
