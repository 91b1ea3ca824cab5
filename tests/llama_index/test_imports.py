"""The public surface of evermem_integrations.llama_index is pinned."""

from __future__ import annotations

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.memory import BaseMemory
from llama_index.core.memory.memory import BaseMemoryBlock

import evermem_integrations.llama_index as adapters


def test_all() -> None:
    assert sorted(adapters.__all__) == ["EverMemBlock", "EverMemMemory", "EverMemRetriever"]


def test_base_classes() -> None:
    assert issubclass(adapters.EverMemMemory, BaseMemory)
    assert issubclass(adapters.EverMemBlock, BaseMemoryBlock)
    assert issubclass(adapters.EverMemRetriever, BaseRetriever)
