"""Benchmarks of EverMem against the baselines users would pick (``evermem bench``).

The retrieval benchmark runs offline (evidence recall, answer recall, tokens, latency,
ingestion rate on LoCoMo or LongMemEval); the QA benchmark adds an OpenAI-compatible answer
model and an LLM judge; the scale benchmark grows one store to measure latency, memory and
disk. ``evermem_integrations.bench.cli.bench_app`` is the command-line entry.
"""

from evermem_integrations.bench.baselines import BM25Turns, DenseTurns, FullContext, LangChainRAG, Retrieval
from evermem_integrations.bench.corpus import BenchConversation, BenchQuestion, BenchTurn
from evermem_integrations.bench.metrics import answer_recall, evidence_recall
from evermem_integrations.bench.qa import QAConfig, QAEvaluator
from evermem_integrations.bench.runner import RunResult, run_retrieval, summarize
from evermem_integrations.bench.scale import run_ingest_scale, run_search_scale

__all__ = [
    "BM25Turns",
    "BenchConversation",
    "BenchQuestion",
    "BenchTurn",
    "DenseTurns",
    "FullContext",
    "LangChainRAG",
    "QAConfig",
    "QAEvaluator",
    "Retrieval",
    "RunResult",
    "answer_recall",
    "evidence_recall",
    "run_ingest_scale",
    "run_retrieval",
    "run_search_scale",
    "summarize",
]
