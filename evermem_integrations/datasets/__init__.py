"""Loaders for public conversation benchmarks (LoCoMo, LongMemEval) as EverMem messages."""

from evermem_integrations.datasets.locomo import LocomoConversation, LocomoQuestion, load_locomo
from evermem_integrations.datasets.longmemeval import LongMemEvalQuestion, LongMemEvalTurn, load_longmemeval

__all__ = [
    "LocomoConversation",
    "LocomoQuestion",
    "LongMemEvalQuestion",
    "LongMemEvalTurn",
    "load_locomo",
    "load_longmemeval",
]
