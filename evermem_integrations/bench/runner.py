"""The retrieval (and optional QA) runner shared by the LoCoMo and LongMemEval benchmarks.

For every conversation it ingests the turns into each system (timed: ingestion messages/s),
then asks every question of every system at every budget (timed: query latency), scores the
context with :mod:`~evermem_integrations.bench.metrics`, and, when a QA evaluator is given,
answers and judges the questions from each system's context at the QA budget.

EverMem is driven through its public API only: ``EverMem(path=tmpdir)`` (a store per
conversation, see :class:`EverMemStore`), ``add`` of the whole conversation with
``group_id=<conversation id>``, ``flush``, then ``search`` with each requested method. All
systems share one embedder instance (the engine's default
:class:`~evermem_integrations.engine.embeddings.StaticEmbedder` unless told otherwise).
"""

from __future__ import annotations

import re
import shutil
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evermem_integrations.bench.baselines import Retrieval, RetrievalSystem, make_baseline
from evermem_integrations.bench.corpus import BenchConversation, BenchQuestion
from evermem_integrations.bench.metrics import QuestionScore, answer_recall, evidence_recall, mean, percentile
from evermem_integrations.bench.qa import QAEvaluator, QARecord, summarize_qa
from evermem_integrations.engine.embeddings import Embedder, StaticEmbedder
from evermem_integrations.errors import ConfigurationError

if TYPE_CHECKING:
    from evermem_integrations import EverMem

EVERMEM_METHODS = ("keyword", "vector", "hybrid", "scene", "agentic")

ProgressHook = Callable[[str, int], None]
"""Called as ``hook(description, advance)``; the CLI binds it to a rich progress bar."""


@dataclass(frozen=True)
class Servers:
    """Run EverMem on servers: records on PostgreSQL (``database_url``) and/or vectors on Chroma."""

    database_url: str | None = None
    chroma_url: str | None = None


def conversation_store_path(path: Path, conversation_id: str) -> Path:
    """Where an embedded run keeps one conversation's store, under the run's store ``path``."""
    return path / re.sub(r"[^A-Za-z0-9_.-]", "_", conversation_id)


class EverMemStore:
    """The EverMem instance every method searches, ingesting each conversation once.

    Each conversation is measured as if it were the only one, as every baseline indexes one
    conversation: embedded, it gets a store of its own (:func:`conversation_store_path`,
    removed after its questions unless ``keep``), because FTS5's BM25 statistics span every scope of a
    store and LongMemEval's haystacks share filler sessions, so one shared store ranked each
    haystack by the others' words. On PostgreSQL the statistics are each scope's own, so one
    database holds them all. What a server holds must not be there yet (so ingestion is
    timed from empty), and is deleted again, leaving the server as it was.
    """

    def __init__(self, path: Path, embedder: Embedder, servers: Servers | None = None, *, keep: bool = False) -> None:
        self._path = path
        self._embedder = embedder
        self._servers = servers or Servers()
        self._keep = keep
        self._one_store = self._servers.database_url is not None
        self._mem: EverMem | None = self._open(path) if self._one_store else None
        self._held: list[str] = []
        """Conversations the open engine holds."""
        self._folder: Path | None = None

    def _open(self, path: Path) -> EverMem:
        from evermem_integrations import EverMem

        return EverMem(
            path=path,
            embedder=self._embedder,
            database_url=self._servers.database_url,
            chroma_url=self._servers.chroma_url,
        )

    @property
    def mem(self) -> EverMem:
        """The engine holding the conversation ingested last."""
        if self._mem is None:
            raise RuntimeError("no conversation ingested yet")
        return self._mem

    def ingest(self, conversation: BenchConversation) -> None:
        """``add`` the whole conversation under ``group_id=<its id>``, then ``flush``."""
        if self._held and self._held[-1] == conversation.id:  # the second method on the same conversation
            return
        if not self._one_store:
            self._release()
            self._folder = conversation_store_path(self._path, conversation.id)
            self._mem = self._open(self._folder)
        if (self._servers.database_url or self._servers.chroma_url) and self.mem.stats(
            group_id=conversation.id
        ).messages:
            raise ConfigurationError(
                f"the servers already hold conversation {conversation.id}: benchmark on an empty database "
                "and Chroma server (or delete it: evermem delete --group ID)"
            )
        self.mem.add(conversation.messages, group_id=conversation.id)
        self.mem.flush(group_id=conversation.id)
        self._held.append(conversation.id)

    def _release(self) -> None:
        """Close the open engine (deleting what it put on servers), and its folder unless kept."""
        if self._mem is None:
            return
        try:
            if self._servers.database_url or self._servers.chroma_url:
                for conversation_id in self._held:
                    self._mem.delete(group_id=conversation_id)
        finally:
            self._mem.close()
            self._mem = None
            self._held = []
        if self._folder is not None and not self._keep:
            shutil.rmtree(self._folder, ignore_errors=True)

    def close(self) -> None:
        """Release the store (on servers, after deleting what the benchmark stored)."""
        self._release()


class EverMemSystem:
    """EverMem searched with one method (``hybrid``, ``scene``, ...)."""

    budget_independent = False
    ingest_key = "evermem"

    def __init__(self, store: EverMemStore, method: str) -> None:
        if method not in EVERMEM_METHODS:
            raise ConfigurationError(f"unknown EverMem method {method!r}; choose from {', '.join(EVERMEM_METHODS)}")
        self.store = store
        self.method = method
        self.name = f"evermem-{method}"

    def index(self, conversation: BenchConversation) -> None:
        """Ingest through the shared store (a no-op for the second method)."""
        self.store.ingest(conversation)

    def retrieve(self, conversation: BenchConversation, question: BenchQuestion, budget: int) -> Retrieval:
        """``EverMem.search`` with this method, the budget and the question's time."""
        result = self.store.mem.search(
            question.question,
            group_id=conversation.id,
            token_budget=budget,
            method=self.method,  # type: ignore[arg-type]
            current_time=question.current_time,
        )
        claimed = frozenset(source for item in result.items for source in item.source_message_ids)
        return Retrieval(result.context, result.context_tokens, claimed, len(result.items))

    def close(self) -> None:
        """The shared store is closed by the runner."""


@dataclass
class RunResult:
    """Everything a run measured, before it is summarised into a report."""

    scores: list[QuestionScore] = field(default_factory=list)
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    latencies_by_budget_ms: dict[tuple[str, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    ingestion: dict[str, list[float]] = field(default_factory=lambda: defaultdict(lambda: [0.0, 0.0]))
    qa: list[QARecord] = field(default_factory=list)
    unknown_evidence: int = 0
    qa_budget: int | None = None


def run_retrieval(
    conversations: Sequence[BenchConversation],
    *,
    budgets: Sequence[int],
    methods: Sequence[str] = ("hybrid", "scene"),
    baselines: Sequence[str] = ("full", "bm25", "dense", "langchain"),
    embedder: Embedder | None = None,
    store_path: str | Path | None = None,
    servers: Servers | None = None,
    qa: QAEvaluator | None = None,
    qa_budget: int | None = None,
    progress: ProgressHook | None = None,
) -> RunResult:
    """Run the retrieval benchmark (and QA when ``qa`` is given) over ``conversations``.

    Args:
        conversations: what to ingest and ask (questions already filtered, e.g. LoCoMo 1-4).
        budgets: context budgets in tokens.
        methods: EverMem search methods, each reported as ``evermem-<method>``.
        baselines: any of ``full``, ``bm25``, ``dense``, ``langchain``.
        embedder: shared by EverMem and the dense baselines (default: the bundled model).
        store_path: where EverMem keeps its store (default: a temporary folder, removed after).
        servers: a PostgreSQL and/or Chroma server for EverMem's store instead of local files.
        qa: answers and judges each question from every system's context at ``qa_budget``.
        qa_budget: the budget the QA benchmark uses (default: the largest budget <= 2000).
        progress: called with a description and the number of questions just finished.

    """
    if not budgets:
        raise ConfigurationError("give at least one token budget")
    budgets = sorted(set(budgets))
    if qa is not None:
        qa_budget = qa_budget or max([b for b in budgets if b <= 2000] or budgets[:1])
        if qa_budget not in budgets:
            raise ConfigurationError(f"the QA budget {qa_budget} must be one of the budgets {budgets}")
    embedder = embedder or StaticEmbedder()
    result = RunResult(qa_budget=qa_budget if qa is not None else None)
    with tempfile.TemporaryDirectory(prefix="evermem-bench-") as scratch:
        path = Path(store_path) if store_path else Path(scratch) / "store"
        store = EverMemStore(path, embedder, servers, keep=store_path is not None) if methods else None
        systems: list[RetrievalSystem] = [EverMemSystem(store, m) for m in methods] if store else []  # type: ignore[misc]
        systems += [make_baseline(name, embedder) for name in baselines]
        try:
            for conversation in conversations:
                _run_conversation(conversation, systems, budgets, qa, qa_budget, result, progress)
        finally:
            for system in systems:
                system.close()
            if store is not None:
                store.close()
    return result


def _run_conversation(
    conversation: BenchConversation,
    systems: Sequence[RetrievalSystem],
    budgets: Sequence[int],
    qa: QAEvaluator | None,
    qa_budget: int | None,
    result: RunResult,
    progress: ProgressHook | None,
) -> None:
    counted: set[str] = set()
    for system in systems:
        if progress:
            progress(f"{conversation.id}: ingesting into {system.name}", 0)
        started = time.perf_counter()
        system.index(conversation)
        key = getattr(system, "ingest_key", system.name)
        result.ingestion[key][1] += time.perf_counter() - started
        if key not in counted:  # EverMem methods share one store: its messages count once
            counted.add(key)
            result.ingestion[key][0] += len(conversation.messages)
    qa_jobs: list[tuple[str, BenchQuestion, Retrieval]] = []
    for index, question in enumerate(conversation.questions):
        result.unknown_evidence += len(question.unknown_evidence)
        for system in systems:
            fixed: tuple[Retrieval, float | None, float | None] | None = None
            for budget in budgets:
                if fixed is None:
                    started = time.perf_counter()
                    retrieval = system.retrieve(conversation, question, budget)
                    elapsed = (time.perf_counter() - started) * 1000
                    result.latencies_ms[system.name].append(elapsed)
                    result.latencies_by_budget_ms[(system.name, budget)].append(elapsed)
                    er = evidence_recall(
                        question.evidence, conversation.turn_texts, retrieval.claimed_ids, retrieval.context
                    )
                    ar = answer_recall(question.answer, retrieval.context)
                    if system.budget_independent:  # the same context at every budget: retrieve and score once
                        fixed = (retrieval, er, ar)
                else:
                    retrieval, er, ar = fixed
                result.scores.append(
                    QuestionScore(
                        system.name, budget, conversation.id, index, question.category, er, ar, retrieval.context_tokens
                    )
                )
                if qa is not None and budget == qa_budget and question.answer is not None:
                    qa_jobs.append((system.name, question, retrieval))
        if progress:
            progress(f"{conversation.id}: questions", 1)
    if qa is not None:
        for system_name, question, retrieval in qa_jobs:
            result.qa.append(
                qa.evaluate(system_name, conversation.id, question, retrieval.context, retrieval.context_tokens)
            )
            if progress:
                progress(f"{conversation.id}: QA {system_name}", 0)


def summarize(result: RunResult, *, budgets: Sequence[int], meta: dict[str, Any]) -> dict[str, Any]:
    """The JSON report: per system and budget, recalls, tokens, latency, categories; ingestion; QA."""
    budgets = sorted(set(budgets))
    systems = list(dict.fromkeys(s.system for s in result.scores))
    by_key: dict[tuple[str, int], list[QuestionScore]] = defaultdict(list)
    for score in result.scores:
        by_key[(score.system, score.budget)].append(score)
    table: dict[str, Any] = {}
    for system in systems:
        per_budget: dict[str, Any] = {}
        for budget in budgets:
            rows = by_key[(system, budget)]
            categories: dict[str, list[QuestionScore]] = defaultdict(list)
            for row in rows:
                categories[row.category].append(row)
            latencies = result.latencies_by_budget_ms.get((system, budget), [])
            per_budget[str(budget)] = {
                **_recalls(rows),
                "context_tokens": mean(r.context_tokens for r in rows),
                "latency_p50_ms": percentile(latencies, 50) if latencies else None,
                "latency_p95_ms": percentile(latencies, 95) if latencies else None,
                "by_category": {name: _recalls(cat_rows) for name, cat_rows in sorted(categories.items())},
            }
        latencies = result.latencies_ms.get(system, [])
        table[system] = {
            "budgets": per_budget,
            "latency_p50_ms": percentile(latencies, 50),
            "latency_p95_ms": percentile(latencies, 95),
            "queries": len(latencies),
        }
    ingestion = {
        key: {
            "messages": int(messages),
            "seconds": seconds,
            "messages_per_s": messages / seconds if seconds > 0 else None,
        }
        for key, (messages, seconds) in result.ingestion.items()
    }
    report: dict[str, Any] = {
        **meta,
        "budgets": budgets,
        "systems": systems,
        "questions": len({(s.conversation, s.question_index) for s in result.scores}),
        "unknown_evidence_ids": result.unknown_evidence,
        "results": table,
        "ingestion": ingestion,
    }
    if result.qa:
        report["qa"] = summarize_qa(result.qa)
    return report


def _recalls(rows: Sequence[QuestionScore]) -> dict[str, Any]:
    return {
        "evidence_recall": mean(r.evidence_recall for r in rows),
        "answer_recall": mean(r.answer_recall for r in rows),
        "questions": len(rows),
    }


def score_rows(result: RunResult) -> list[dict[str, Any]]:
    """Per-question scores as plain dicts (written as ``scores.jsonl``)."""
    return [asdict(s) for s in result.scores]
