"""``EverMemMemory``: a LlamaIndex ``BaseMemory`` with EverMem long-term recall.

Pass it as ``memory=`` to a chat engine or an agent run. It keeps the current conversation in
LlamaIndex's own short-term :class:`~llama_index.core.memory.Memory` and every user and
assistant turn in EverMem; each ``get`` adds one system message with what EverMem recalls for
the latest user input (fitted to ``token_budget``), so a fact told in one session reaches the
prompt in the next one.
"""

from __future__ import annotations

import builtins
import threading
import uuid
from collections.abc import Sequence
from typing import Any, Literal

from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr, SerializeAsAny
from llama_index.core.memory import Memory
from llama_index.core.memory.types import BaseMemory

from evermem_integrations.engine.models import MemoryKind, SearchMethod, SearchResult
from evermem_integrations.llama_index._shared import (
    DEFAULT_CONTEXT_TEMPLATE,
    DEFAULT_STORE_ROLES,
    EngineFilters,
    engine_filters,
    engine_message,
    latest_user_text,
    message_id,
    message_text,
    role_of,
    scope_ids,
    storable_text,
)
from evermem_integrations.memory import EverMem

DEFAULT_SHORT_TERM_TOKEN_LIMIT = 30_000


class EverMemMemory(BaseMemory):
    """Short-term chat buffer plus EverMem long-term memory, for chat engines and agents.

    Writes (``put``/``aput``/``put_messages``/``aput_messages``/``set``/``aset``) go to both
    stores; reads (``get``/``aget``) return the short-term history with one system message
    holding the recalled context; ``reset`` clears the short-term buffer only (delete long-term
    memories explicitly with ``EverMem.delete``).

    Only user and assistant text is stored long-term (``store_roles``): tool calls, tool
    results and system prompts are working state, not the user's history; a ReActAgent's
    ``Thought: ... Answer: ...`` message is stored as its answer. Memories that only repeat
    messages still in the short-term window are left out of the context (they are in the
    prompt already), so the budget goes to what the model could not otherwise see.

    Create it with :meth:`from_defaults`::

        memory = EverMemMemory.from_defaults(memory=EverMem(), user_id="u1")
        SimpleChatEngine.from_defaults(llm=llm, memory=memory)
        await FunctionAgent(tools=..., llm=llm).run("hi", memory=memory)

    Note: ``ReActAgent`` drops the first message when it is a system message (it expects its
    own ``system_prompt`` there). Give the agent a ``system_prompt`` or use
    ``insert_method="user"`` so the recalled context is not dropped with it.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    memory: EverMem = Field(exclude=True, description="the EverMem engine holding long-term memory")
    user_id: str | None = Field(default=None, description="scope: the user the memories belong to")
    group_id: str | None = Field(default=None, description="scope: a group chat")
    agent_id: str | None = Field(default=None, description="scope: an agent's own memory")
    short_term: SerializeAsAny[BaseMemory] = Field(description="the live conversation (LlamaIndex Memory by default)")
    token_budget: int = Field(default=1000, ge=50, description="tokens the recalled context may use")
    search_method: SearchMethod = Field(default="hybrid", description="EverMem search method")
    kinds: list[MemoryKind] | None = Field(default=None, description="memory kinds to recall (engine default if None)")
    filters: EngineFilters | None = Field(
        default=None, description="EverMem filter, or LlamaIndex MetadataFilters (translated)"
    )
    context_template: str = Field(default=DEFAULT_CONTEXT_TEMPLATE, description="wraps the context; has {context}")
    insert_method: Literal["system", "user"] = Field(
        default="system", description="a system message first, or prepended to the latest user message"
    )
    store_roles: tuple[str, ...] = Field(default=DEFAULT_STORE_ROLES, description="roles written to long-term memory")
    user_name: str | None = Field(default=None, description="sender name of user turns (default: the engine's)")
    assistant_name: str | None = Field(default=None, description="sender name of assistant turns")

    _generation: str = PrivateAttr(default="")
    _ids_by_key: dict[tuple[str, str], list[str]] = PrivateAttr(default_factory=dict)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    _last_context: str = PrivateAttr(default="")

    def model_post_init(self, __context: Any) -> None:
        """Validate the scope and derive the id namespace from the short-term session."""
        scope_ids(self.user_id, self.group_id, self.agent_id)
        if "{context}" not in self.context_template:
            raise ValueError("context_template must contain '{context}' where the recalled memories go")
        self._generation = str(getattr(self.short_term, "session_id", None) or uuid.uuid4())

    @classmethod
    def class_name(cls) -> str:
        """Name used by LlamaIndex serialisation."""
        return "EverMemMemory"

    @classmethod
    def from_defaults(  # type: ignore[override]
        cls,
        memory: EverMem | None = None,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        session_id: str | None = None,
        chat_history: list[ChatMessage] | None = None,
        token_limit: int = DEFAULT_SHORT_TERM_TOKEN_LIMIT,
        short_term: BaseMemory | None = None,
        **kwargs: Any,
    ) -> EverMemMemory:
        """Create the memory for one scope.

        Args:
            memory: the EverMem engine (required).
            user_id: scope: the user the memories belong to.
            group_id: scope: a group chat.
            agent_id: scope: an agent's own memory (give at least one scope id).
            session_id: the short-term session (a new one if None). Messages re-sent with the
                same session id and position are not stored twice.
            chat_history: messages to start with (stored in both memories).
            token_limit: token limit of the default short-term ``Memory``.
            short_term: a ready short-term memory instead of a new ``Memory``.
            **kwargs: other fields (``token_budget``, ``search_method``, ``kinds``, ``filters``,
                ``context_template``, ``insert_method``, ``store_roles``, ``user_name``,
                ``assistant_name``).

        """
        if not isinstance(memory, EverMem):
            raise TypeError(
                f"EverMemMemory.from_defaults needs the engine as memory=EverMem(...), got {type(memory).__name__}"
            )
        scope_ids(user_id, group_id, agent_id)  # raise ScopeError itself, not wrapped by pydantic
        if short_term is None:
            short_term = Memory.from_defaults(session_id=session_id, token_limit=token_limit)
        elif session_id is not None:
            raise ValueError("pass session_id= or short_term=, not both (the short-term memory has its own session)")
        instance = cls(
            memory=memory, user_id=user_id, group_id=group_id, agent_id=agent_id, short_term=short_term, **kwargs
        )
        if chat_history:
            instance.set(chat_history)
        return instance

    # -- reading ---------------------------------------------------------------------------------
    @property
    def last_context(self) -> str:
        """Return the context recalled by the most recent ``get``/``aget`` (``""`` if none)."""
        return self._last_context

    def get(self, input: str | ChatMessage | None = None, **kwargs: Any) -> list[ChatMessage]:
        """Return the short-term history with a system message of recalled memories.

        The query is ``input`` when given (``ContextChatEngine``, agents after a tool call),
        else the latest user message in the history (``SimpleChatEngine``, agents' first step).
        """
        history = self.short_term.get(input=message_text(input) or None, **kwargs)
        query = message_text(input) or latest_user_text(history)
        if not query:
            return history
        window = self._window(history, input)
        result = self.memory.search(query, **self._search_kwargs(window))
        return self._with_context(history, result)

    async def aget(self, input: str | ChatMessage | None = None, **kwargs: Any) -> list[ChatMessage]:
        """Async :meth:`get`."""
        history = await self.short_term.aget(input=message_text(input) or None, **kwargs)
        query = message_text(input) or latest_user_text(history)
        if not query:
            return history
        window = self._window(history, input)
        result = await self.memory.asearch(query, **self._search_kwargs(window))
        return self._with_context(history, result)

    def get_all(self) -> list[ChatMessage]:
        """Every short-term message of the session (no recalled context)."""
        return self.short_term.get_all()

    async def aget_all(self) -> list[ChatMessage]:
        """Async :meth:`get_all`."""
        return await self.short_term.aget_all()

    # -- writing ---------------------------------------------------------------------------------
    def put(self, message: ChatMessage) -> None:
        """Append a turn to the short-term buffer and store it long-term."""
        self.short_term.put(message)
        self._store(self._records([message]))

    async def aput(self, message: ChatMessage) -> None:
        """Async :meth:`put`."""
        await self.short_term.aput(message)
        await self._astore(self._records([message]))

    def put_messages(self, messages: list[ChatMessage]) -> None:
        """Append several turns (e.g. an agent's tool calls and answer)."""
        self.short_term.put_messages(messages)
        self._store(self._records(messages))

    async def aput_messages(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`put_messages` (``FunctionAgent`` stores its turn with it)."""
        await self.short_term.aput_messages(messages)
        await self._astore(self._records(messages))

    def set(self, messages: list[ChatMessage]) -> None:
        """Replace the short-term history; messages not stored before are stored long-term.

        Chat engines and agents call this with ``chat_history=`` on every turn; a message at
        the same position with the same text as before gets the same id, and the engine
        skips ids it knows, so a re-sent history is not duplicated.
        """
        self.short_term.set(messages)
        self._store(self._records(messages, restart=True))

    async def aset(self, messages: list[ChatMessage]) -> None:
        """Async :meth:`set`."""
        await self.short_term.aset(messages)
        await self._astore(self._records(messages, restart=True))

    def reset(self) -> None:
        """Clear the short-term buffer only; long-term memories stay (``EverMem.delete`` removes them)."""
        self.short_term.reset()
        self._new_generation()

    async def areset(self) -> None:
        """Async :meth:`reset`."""
        await self.short_term.areset()
        self._new_generation()

    # -- internals -------------------------------------------------------------------------------
    def _scope(self) -> dict[str, str]:
        return scope_ids(self.user_id, self.group_id, self.agent_id)

    def _new_generation(self) -> None:
        with self._lock:
            self._generation = str(uuid.uuid4())
            self._ids_by_key = {}

    def _records(self, messages: Sequence[ChatMessage], *, restart: bool = False) -> list[dict[str, Any]]:
        """Engine records for the storable messages, with ids unique per session and occurrence."""
        records: list[dict[str, Any]] = []
        with self._lock:
            if restart:
                self._ids_by_key = {}
            for message in messages:
                text = storable_text(message, self.store_roles)
                if text is None:
                    continue
                key = (role_of(message), text)
                seen = self._ids_by_key.setdefault(key, [])
                base = message_id(self._generation, key[0], text, len(seen))
                seen.append(base)
                # A long turn (a pasted document) is one message: the engine searches it in pieces.
                records.append(
                    engine_message(message, text, base, user_name=self.user_name, assistant_name=self.assistant_name)
                )
        return records

    def _store(self, records: list[dict[str, Any]]) -> None:
        if records:
            self.memory.add(records, **self._scope())

    async def _astore(self, records: list[dict[str, Any]]) -> None:
        if records:
            await self.memory.aadd(records, **self._scope())

    def _window(self, history: Sequence[ChatMessage], input: str | ChatMessage | None) -> builtins.set[str]:
        """Ids of the stored messages that are in the prompt already."""
        messages = [*history, ChatMessage(role=MessageRole.USER, content=message_text(input))] if input else history
        ids: builtins.set[str] = builtins.set()
        with self._lock:
            for message in messages:
                text = storable_text(message, self.store_roles)
                if text is not None:
                    ids.update(self._ids_by_key.get((role_of(message), text), ()))
        return ids

    def _search_kwargs(self, window: builtins.set[str]) -> dict[str, Any]:
        # Memories the window already shows verbatim would only repeat it: the budget goes to others.
        return {
            **self._scope(),
            "token_budget": self.token_budget,
            "method": self.search_method,
            "kinds": self.kinds,
            "filters": engine_filters(self.filters),
            "exclude_message_ids": window,
        }

    def _with_context(self, history: list[ChatMessage], result: SearchResult) -> list[ChatMessage]:
        context = result.context
        self._last_context = context
        if not context:
            return history
        text = self.context_template.format(context=context)
        if self.insert_method == "system":
            return [ChatMessage(role=MessageRole.SYSTEM, content=text), *history]
        for index in range(len(history) - 1, -1, -1):
            if role_of(history[index]) == "user":
                latest = history[index].model_copy(deep=True)
                latest.blocks = [TextBlock(text=text + "\n\n"), *latest.blocks]
                return [*history[:index], latest, *history[index + 1 :]]
        return [*history, ChatMessage(role=MessageRole.USER, content=text)]
