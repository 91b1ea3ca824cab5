"""``EverMemChatMessageHistory``: a ``BaseChatMessageHistory`` kept in EverMem (legacy path).

Legacy path. ``RunnableWithMessageHistory`` is deprecated in LangChain 1.x, and a chat
history cannot see the input it is about to answer, so it can only recall memories for the
conversation so far. New code should use
:class:`~evermem_integrations.langchain.EverMemMiddleware` (``create_agent``) or
:func:`~evermem_integrations.langchain.with_memory` (LCEL), which recall for the current input.
For code built on ``RunnableWithMessageHistory`` the change is the history factory::

    RunnableWithMessageHistory(chain, lambda session_id: EverMemChatMessageHistory(
        memory=mem, user_id="u1", session_id=session_id))

``messages`` returns one system message with long-term memories from the user's other
sessions, followed by this session's own messages. The memories are recalled for the
session's latest user message; a session that has none yet (its first turn) gets the most
recent memories instead: profile entries, the latest facts and the latest messages.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from evermem_integrations.engine.tokens import count_tokens
from evermem_integrations.errors import NotFoundError, ScopeError
from evermem_integrations.langchain._common import (
    DEFAULT_MEMORY_PROMPT,
    ScopeIds,
    latest_user_text,
    scope_ids,
    to_engine_message,
)
from evermem_integrations.memory import EverMem

SESSION_KEY = "session_id"
"""Message metadata field that records which session a message belongs to."""


class EverMemChatMessageHistory(BaseChatMessageHistory):
    """One chat session stored in EverMem, plus recall from the scope's other sessions.

    Args:
        memory: the EverMem engine.
        session_id: this conversation's id (stored in each message's metadata).
        user_id, group_id, agent_id: the scope (at least one); sessions of one scope share memory.
        recall: prepend a system message with long-term memories (``False``: plain history).
        token_budget: tokens the recalled memories may take.
        recent: how many recent facts and messages the first-turn digest draws on.
        prompt_template: how memories are introduced; must contain ``{context}``.

    """

    def __init__(
        self,
        memory: EverMem,
        *,
        session_id: str,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        recall: bool = True,
        token_budget: int = 500,
        recent: int = 10,
        prompt_template: str = DEFAULT_MEMORY_PROMPT,
    ) -> None:
        self.memory = memory
        self.session_id = str(session_id)
        self.scope: ScopeIds = scope_ids(user_id, group_id, agent_id)
        if not self.scope:
            raise ScopeError("EverMemChatMessageHistory needs a scope: pass user_id= (or group_id=/agent_id=)")
        self.recall = recall
        self.token_budget = token_budget
        self.recent = recent
        self.prompt_template = prompt_template

    # -- reading -----------------------------------------------------------------------------------
    def _stored(self) -> list[dict[str, Any]]:
        """Every stored message of the scope (JSON form, oldest first)."""
        return list(self.memory.export_scope(**self.scope)["messages"])

    def session_messages(self) -> list[BaseMessage]:
        """Return this session's own messages, oldest first, without recalled memories."""
        return [
            _to_langchain(m) for m in self._stored() if (m.get("metadata") or {}).get(SESSION_KEY) == self.session_id
        ]

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """A system message with long-term memories (if any), then this session's messages."""
        session = self.session_messages()
        if not self.recall:
            return session
        query = latest_user_text(session)
        context = self._recalled(query) if query else self._digest()
        if not context:
            return session
        return [SystemMessage(content=self.prompt_template.format(context=context)), *session]

    async def aget_messages(self) -> list[BaseMessage]:
        """Async :attr:`messages` (runs off the event loop)."""
        return await asyncio.to_thread(lambda: self.messages)

    def _recalled(self, query: str) -> str:
        own = {m.id for m in self.session_messages() if m.id}
        result = self.memory.search(query, **self.scope, token_budget=self.token_budget)
        lines = [f"- {item.text}" for item in result.items if not own.intersection(item.source_message_ids)]
        return _fit(lines, self.token_budget)

    def _digest(self) -> str:
        """Recent memories of the scope for a session that has no user message yet."""
        stats = self.memory.stats(**self.scope)
        lines = [f"- {item.text}" for p in self.memory.get_profile(**self.scope) for item in [*p.traits, *p.states]]
        facts = self.memory.get(**self.scope, kind="fact", offset=max(0, stats.facts - self.recent), limit=self.recent)
        lines += [f"- {fact.text}" for fact in reversed(facts) if fact.superseded_by is None]
        raw = self.memory.get(**self.scope, kind="raw", offset=max(0, stats.buffered - self.recent), limit=self.recent)
        lines += [
            f"- {message.sender}: {message.content}"
            for message in reversed(raw)
            if message.metadata.get(SESSION_KEY) != self.session_id
        ]
        return _fit(lines, self.token_budget)

    # -- writing -----------------------------------------------------------------------------------
    def _converted(self, messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
        converted = (to_engine_message(m, metadata={SESSION_KEY: self.session_id}) for m in messages)
        return [m for m in converted if m is not None]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Store human and AI messages of this session (system and tool messages are skipped)."""
        converted = self._converted(messages)
        if converted:
            self.memory.add(converted, **self.scope)

    async def aadd_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Async :meth:`add_messages`."""
        converted = self._converted(messages)
        if converted:
            await self.memory.aadd(converted, **self.scope)

    def clear(self) -> None:
        """Delete this session's messages (facts already extracted from them are kept)."""
        for message in self._stored():
            if (message.get("metadata") or {}).get(SESSION_KEY) != self.session_id:
                continue
            try:
                self.memory.delete(message["id"], **self.scope)
            except NotFoundError:  # already gone (e.g. deleted with its MemCell)
                continue

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await asyncio.to_thread(self.clear)


def _to_langchain(stored: dict[str, Any]) -> BaseMessage:
    if stored.get("role") == "assistant":
        return AIMessage(content=stored["content"], id=stored["id"])
    return HumanMessage(content=stored["content"], id=stored["id"])


def _fit(lines: list[str], budget: int) -> str:
    """As many lines as fit ``budget`` tokens, in order."""
    kept, used = [], 0
    for line in dict.fromkeys(lines):
        cost = count_tokens(line) + 1
        if used + cost > budget:
            break
        kept.append(line)
        used += cost
    return "\n".join(kept)
