"""``EverMemRetriever``: EverMem memories as LangChain ``Document``s, for LCEL chains and RAG.

::

    retriever = EverMemRetriever(memory=mem, user_id="u1", k=4)
    chain = {"memories": retriever, "question": RunnablePassthrough()} | prompt | model
    retriever.invoke("where does Caroline live?", k=2, filter={"subject": "Caroline"})
    EverMemRetriever(memory=mem, user_id="u1", filter={"channel": "slack"})   # message metadata
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import AliasChoices, ConfigDict, Field

from evermem_integrations.engine.models import MemoryKind, SearchItem, SearchMethod
from evermem_integrations.errors import ScopeError
from evermem_integrations.langchain._common import scope_ids

PER_CALL = frozenset(
    {"k", "filter", "filters", "kinds", "method", "token_budget", "current_time", "user_id", "group_id", "agent_id"}
)


class EverMemRetriever(BaseRetriever):
    """Retrieve ranked memories (facts, messages, episodes...) of one scope as ``Document``s.

    Each document's ``page_content`` is the memory text; ``metadata`` holds ``id``, ``kind``,
    ``score``, ``timestamp`` (ISO 8601), ``source_message_ids``, ``cell_id``, ``scene_id`` and
    ``subject``. Every setting can be overridden per call as a keyword of ``invoke``/``ainvoke``
    (``k``, ``filters``, ``kinds``, ``method``, ``token_budget``, ``current_time`` and the scope ids).

    Attributes:
        memory: the EverMem engine.
        user_id, group_id, agent_id: the scope searched (at least one, here or per call).
        k: how many documents to return at most.
        token_budget: tokens the engine may pack; documents come from what fits (engine default 2000).
        method: ``keyword``, ``vector``, ``hybrid``, ``scene`` or ``agentic``.
        kinds: memory kinds to rank (engine default: facts, messages, foresight, profile).
        filters: an EverMem filter (also ``filter=``, as LangChain's vector-store retrievers
            name it): message metadata and the built-in fields with ``$eq``, ``$ne``, ``$in``,
            ``$nin``, ``$gt``/``$gte``/``$lt``/``$lte``, ``$contains``, ``$and``/``$or``; a per-call
            filter replaces it.

    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: Any = Field(description="the EverMem engine")
    user_id: str | None = None
    group_id: str | None = None
    agent_id: str | None = None
    k: int = Field(default=4, ge=1)
    token_budget: int | None = None
    method: SearchMethod = "hybrid"
    kinds: list[MemoryKind] | None = None
    filters: dict[str, Any] | None = Field(default=None, validation_alias=AliasChoices("filters", "filter"))

    def _search_kwargs(self, overrides: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        unknown = set(overrides) - PER_CALL
        if unknown:
            raise TypeError(
                f"EverMemRetriever got unknown argument(s) {sorted(unknown)}; use any of {sorted(PER_CALL)}"
            )
        scope = scope_ids(
            overrides.get("user_id", self.user_id),
            overrides.get("group_id", self.group_id),
            overrides.get("agent_id", self.agent_id),
        )
        if not scope:
            raise ScopeError(
                "EverMemRetriever has no scope: pass user_id= (or group_id=/agent_id=) to it or to invoke()"
            )
        k = int(overrides.get("k", self.k))
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        kinds: Sequence[MemoryKind] | None = overrides.get("kinds", self.kinds)
        if "filter" in overrides and "filters" in overrides:
            raise TypeError("EverMemRetriever got both filter= and filters=; pass one")
        kwargs = {
            **scope,
            "limit": k,
            "token_budget": overrides.get("token_budget", self.token_budget),
            "method": overrides.get("method", self.method),
            "kinds": list(kinds) if kinds is not None else None,
            "filters": overrides.get("filter", overrides.get("filters", self.filters)),
            "current_time": overrides.get("current_time"),
        }
        return k, kwargs

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k, search = self._search_kwargs(kwargs)
        result = self.memory.search(query, **search)
        return [to_document(item) for item in result.items[:k]]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, **kwargs: Any
    ) -> list[Document]:
        k, search = self._search_kwargs(kwargs)
        result = await self.memory.asearch(query, **search)
        return [to_document(item) for item in result.items[:k]]


def to_document(item: SearchItem) -> Document:
    """Convert a search item to a ``Document`` (JSON-ready metadata, no ``None`` values)."""
    metadata: dict[str, Any] = {
        "id": item.id,
        "kind": item.kind,
        "score": item.score,
        "timestamp": item.timestamp.isoformat() if item.timestamp else None,
        "source_message_ids": list(item.source_message_ids),
        "cell_id": item.cell_id,
        "scene_id": item.scene_id,
        "subject": item.subject,
        **{f"evermem_{key}": value for key, value in item.metadata.items()},
        "source_metadata": item.source_metadata or None,
    }
    return Document(id=item.id, page_content=item.text, metadata={k: v for k, v in metadata.items() if v is not None})
