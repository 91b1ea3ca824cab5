"""``EverMemRetriever``: EverMem search as a LlamaIndex retriever.

Each recalled memory (fact, episode, foresight, profile entry or buffered message) becomes a
``NodeWithScore`` whose metadata says where it came from, so query engines and
``ContextChatEngine(retriever=...)`` can cite it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from evermem_integrations.engine.models import MemoryKind, SearchItem, SearchMethod, SearchResult
from evermem_integrations.llama_index._shared import EngineFilters, engine_filters, scope_ids
from evermem_integrations.memory import EverMem

# Provenance the LLM does not need to read (ids); kind, time and subject stay in its view.
_HIDDEN_FROM_LLM = ["id", "cell_id", "scene_id", "source_message_ids", "superseded_by", "score", "source_metadata"]


class EverMemRetriever(BaseRetriever):
    """Retrieve one scope's memories as nodes with provenance metadata.

    Args:
        memory: the EverMem engine.
        user_id: scope: the user the memories belong to.
        group_id: scope: a group chat.
        agent_id: scope: an agent's own memory (give at least one scope id).
        top_k: at most this many nodes.
        token_budget: tokens the selected memories may use (engine default if None).
        search_method: ``keyword``, ``vector``, ``hybrid``, ``scene`` or ``agentic``.
        kinds: memory kinds to rank (engine default: facts, buffered messages, foresight,
            profile; add ``"episode"`` for whole narratives).
        filters: an EverMem filter (message metadata and the built-in fields, see
            :mod:`evermem_integrations.engine.filters`) or LlamaIndex ``MetadataFilters``
            (EQ, NE, GT, GTE, LT, LTE, IN, NIN, CONTAINS, ANY, ALL with AND/OR, nested; the
            other operators and NOT raise ``InvalidFilterError``). Keys name the same fields
            as node metadata (``kind``, ``subject``, ``timestamp``...) or message metadata.

    Node metadata: ``id``, ``kind``, ``timestamp`` (ISO 8601), ``source_message_ids``,
    ``cell_id``, ``scene_id``, ``subject``, ``score``, plus ``valid_until`` /
    ``superseded_by`` when the engine set them, and ``source_metadata`` (the source messages'
    metadata, each key with its distinct values) when there is any.

    """

    def __init__(
        self,
        memory: EverMem,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        top_k: int = 10,
        token_budget: int | None = None,
        search_method: SearchMethod = "hybrid",
        kinds: Sequence[MemoryKind] | None = None,
        filters: EngineFilters | None = None,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        if not isinstance(memory, EverMem):
            raise TypeError(f"EverMemRetriever needs the engine as memory=EverMem(...), got {type(memory).__name__}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.memory = memory
        self.scope = scope_ids(user_id, group_id, agent_id)
        self.top_k = top_k
        self.token_budget = token_budget
        self.search_method = search_method
        self.kinds = list(kinds) if kinds is not None else None
        self.filters = engine_filters(filters)
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _search_kwargs(self) -> dict[str, Any]:
        return {
            **self.scope,
            "token_budget": self.token_budget,
            "method": self.search_method,
            "kinds": self.kinds,
            "filters": self.filters,
            "limit": self.top_k,
        }

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """Search EverMem for the query string."""
        if not query_bundle.query_str.strip():
            return []
        return nodes_from(self.memory.search(query_bundle.query_str, **self._search_kwargs()))

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        """Async :meth:`_retrieve`."""
        if not query_bundle.query_str.strip():
            return []
        return nodes_from(await self.memory.asearch(query_bundle.query_str, **self._search_kwargs()))


def nodes_from(result: SearchResult) -> list[NodeWithScore]:
    """Convert search items to scored nodes, best first."""
    return [NodeWithScore(node=node_from(item), score=item.score) for item in result.items]


def node_from(item: SearchItem) -> TextNode:
    """Convert one memory to a node; its id is the memory id (stable across searches)."""
    metadata: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind,
        "timestamp": item.timestamp.isoformat() if item.timestamp else None,
        "subject": item.subject,
        "source_message_ids": list(item.source_message_ids),
        "cell_id": item.cell_id,
        "scene_id": item.scene_id,
        "score": item.score,
    }
    metadata.update({k: v for k, v in item.metadata.items() if v is not None})
    if item.source_metadata:
        metadata["source_metadata"] = item.source_metadata
    return TextNode(
        id_=item.id,
        text=item.text,
        metadata=metadata,
        excluded_llm_metadata_keys=[k for k in metadata if k in _HIDDEN_FROM_LLM],
        excluded_embed_metadata_keys=list(metadata),
    )
