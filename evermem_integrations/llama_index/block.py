"""``EverMemBlock``: EverMem as a memory block of LlamaIndex's ``Memory``.

For code already built on ``Memory.from_defaults(memory_blocks=[...])``: the block recalls
what EverMem knows for the latest user input and ``Memory`` renders it into the system
message as ``<memory><long_term_memory>...</long_term_memory></memory>``.

``Memory`` hands a block only the messages that overflow its short-term queue, so a short
session would never reach long-term memory and its facts would be lost for the next session.
With ``store_active_messages=True`` (the default) the block also stores the active messages
it is shown on every read; ids derived from the session, role and text keep that idempotent.
A turn written after the session's last read (usually the final assistant reply) reaches
EverMem only when it overflows; use :class:`~evermem_integrations.llama_index.EverMemMemory`
when every turn must be stored at once.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import ConfigDict, Field
from llama_index.core.memory.memory import BaseMemoryBlock

from evermem_integrations.engine.models import MemoryKind, SearchMethod
from evermem_integrations.llama_index._shared import (
    DEFAULT_STORE_ROLES,
    EngineFilters,
    engine_filters,
    engine_message,
    latest_user_text,
    message_id,
    role_of,
    scope_ids,
    storable_text,
)
from evermem_integrations.memory import EverMem


class EverMemBlock(BaseMemoryBlock[str]):
    """A ``BaseMemoryBlock`` that stores turns in EverMem and returns the recalled context.

    Usage::

        memory = Memory.from_defaults(
            session_id="s1", memory_blocks=[EverMemBlock(memory=EverMem(), user_id="u1")]
        )

    Identical messages (same role and text) within one session are stored once; across
    sessions each session's messages are kept.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str = Field(default="long_term_memory", description="the block's name (its tag in the prompt)")
    description: str | None = Field(default="What EverMem recalls from earlier conversations.")
    memory: EverMem = Field(exclude=True, description="the EverMem engine holding long-term memory")
    user_id: str | None = Field(default=None, description="scope: the user the memories belong to")
    group_id: str | None = Field(default=None, description="scope: a group chat")
    agent_id: str | None = Field(default=None, description="scope: an agent's own memory")
    token_budget: int = Field(default=1000, ge=50, description="tokens the recalled context may use")
    search_method: SearchMethod = Field(default="hybrid", description="EverMem search method")
    kinds: list[MemoryKind] | None = Field(default=None, description="memory kinds to recall (engine default if None)")
    filters: EngineFilters | None = Field(
        default=None, description="EverMem filter, or LlamaIndex MetadataFilters (translated)"
    )
    store_active_messages: bool = Field(
        default=True, description="also store the active messages seen on reads, not only overflowing ones"
    )
    store_roles: tuple[str, ...] = Field(default=DEFAULT_STORE_ROLES, description="roles written to long-term memory")
    user_name: str | None = Field(default=None, description="sender name of user turns (default: the engine's)")
    assistant_name: str | None = Field(default=None, description="sender name of assistant turns")

    def model_post_init(self, __context: Any) -> None:
        """Validate the scope now rather than on the first read."""
        scope_ids(self.user_id, self.group_id, self.agent_id)

    async def _aget(self, messages: list[ChatMessage] | None = None, **block_kwargs: Any) -> str:
        """Context recalled for the latest user message (``""`` when nothing is stored)."""
        if not messages:
            return ""
        session_id = block_kwargs.get("session_id")
        records = self._records(messages, session_id)
        if self.store_active_messages and records:
            await self.memory.aadd(records, **self._scope())
        query = latest_user_text(messages)
        if not query:
            return ""
        result = await self.memory.asearch(
            query,
            **self._scope(),
            token_budget=self.token_budget,
            method=self.search_method,
            kinds=self.kinds,
            filters=engine_filters(self.filters),
            # The active messages are in the prompt verbatim: memories would only repeat them.
            exclude_message_ids={r["id"] for r in records},
        )
        return result.context

    async def _aput(self, messages: list[ChatMessage]) -> None:
        """Store messages ``Memory`` flushed out of its short-term queue."""
        by_session: dict[str | None, list[ChatMessage]] = {}
        for message in messages:
            by_session.setdefault(message.additional_kwargs.get("session_id"), []).append(message)
        for session_id, batch in by_session.items():
            records = self._records(batch, session_id)
            if records:
                await self.memory.aadd(records, **self._scope())

    def _scope(self) -> dict[str, str]:
        return scope_ids(self.user_id, self.group_id, self.agent_id)

    def _records(self, messages: list[ChatMessage], session_id: str | None) -> list[dict[str, Any]]:
        records = []
        for message in messages:
            text = storable_text(message, self.store_roles)
            if text is None:
                continue
            base = message_id(session_id or "", role_of(message), text)
            # A long turn (a pasted document) is one message: the engine searches it in pieces.
            records.append(
                engine_message(message, text, base, user_name=self.user_name, assistant_name=self.assistant_name)
            )
        return records
