"""Loaders for public conversation benchmarks (LoCoMo, LongMemEval) as EverMem messages."""

from evermem_integrations.datasets.locomo import LocomoConversation, LocomoQuestion, load_locomo

__all__ = ["LocomoConversation", "LocomoQuestion", "load_locomo"]
