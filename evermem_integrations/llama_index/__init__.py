"""LlamaIndex adapters: EverMem long-term memory for chat engines, agents and query engines.

Install with ``pip install "evermem-integrations[llama-index]"``.
"""

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        'evermem_integrations.llama_index needs llama-index-core: pip install "evermem-integrations[llama-index]"'
    ) from exc

from evermem_integrations.llama_index.block import EverMemBlock
from evermem_integrations.llama_index.memory import EverMemMemory
from evermem_integrations.llama_index.retriever import EverMemRetriever

__all__ = ["EverMemBlock", "EverMemMemory", "EverMemRetriever"]
