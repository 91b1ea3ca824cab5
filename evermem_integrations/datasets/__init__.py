"""Loaders for conversation benchmarks (LoCoMo, LongMemEval, the bundled assistant chat) as EverMem messages."""

from evermem_integrations.datasets.assistant_chat import AssistantChat, GroundTruth, load_assistant_chat
from evermem_integrations.datasets.locomo import LocomoConversation, LocomoQuestion, load_locomo
from evermem_integrations.datasets.longmemeval import LongMemEvalQuestion, LongMemEvalTurn, load_longmemeval

__all__ = [
    "AssistantChat",
    "GroundTruth",
    "LocomoConversation",
    "LocomoQuestion",
    "LongMemEvalQuestion",
    "LongMemEvalTurn",
    "load_assistant_chat",
    "load_locomo",
    "load_longmemeval",
]
