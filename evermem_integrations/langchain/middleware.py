"""``EverMemMiddleware``: long-term memory for LangChain 1.x agents built with ``create_agent``.

One argument adds it to an agent you already have::

    agent = create_agent(model, tools, middleware=[EverMemMiddleware(mem)])
    agent.invoke({"messages": [...]}, config={"configurable": {"user_id": "u1", "thread_id": "t1"}})

Before every model call it retrieves what EverMem knows that is relevant to the latest user
message and appends it to the system message (within ``token_budget``). Memories of messages
the thread already shows are left out, and the agent's state and checkpoints are untouched, so
memories are never duplicated into the thread. After the
run it stores the turn (the latest user message and the replies that followed it), so the
next thread of the same user, or a different agent sharing the store, can recall it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware, AgentState, ModelRequest, ModelResponse
from langgraph.runtime import Runtime

from evermem_integrations.engine.filters import all_of
from evermem_integrations.engine.models import MemoryKind, SearchMethod, SearchResult
from evermem_integrations.errors import InvalidFilterError
from evermem_integrations.langchain._common import (
    DEFAULT_MEMORY_PROMPT,
    ScopeIds,
    field_from,
    last_turn,
    latest_user_text,
    resolve_scope,
    scope_ids,
    to_engine_message,
    with_memory_prompt,
)
from evermem_integrations.memory import EverMem

logger = logging.getLogger(__name__)


class EverMemMiddleware(AgentMiddleware):
    """Agent middleware that recalls EverMem memories into the prompt and stores each turn.

    The scope is resolved per run, first from the run's context (``context=`` of
    ``agent.invoke``, a dict, dataclass or object with ``user_id``/``group_id``/``agent_id``),
    then from ``config["configurable"]``; ids given to the constructor are used when the run
    names none, and fill fields the run leaves open (e.g. a fixed ``agent_id``). A run's
    ``filters`` (same places; EverMem's filter language, e.g. ``{"channel": "slack"}``) narrow
    what is recalled, together with the constructor's ``filters``.

    Args:
        memory: the EverMem engine.
        user_id, group_id, agent_id: a fixed scope (optional; see above).
        token_budget: tokens (cl100k_base) the recalled memories may take in the prompt.
        method: the engine's search method (``hybrid`` by default).
        kinds: memory kinds to recall (engine default: facts, messages, foresight, profile).
        filters: an EverMem filter every recall applies (a run's own ``filters`` are added with ``$and``).
        prompt_template: how memories are introduced; must contain ``{context}``.
        store_turns: store each completed turn (set ``False`` for a read-only agent).

    Raises:
        ScopeError: at run time, when no scope is given anywhere.

    """

    def __init__(
        self,
        memory: EverMem,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        token_budget: int = 1000,
        method: SearchMethod = "hybrid",
        kinds: Sequence[MemoryKind] | None = None,
        filters: Mapping[str, Any] | None = None,
        prompt_template: str = DEFAULT_MEMORY_PROMPT,
        store_turns: bool = True,
    ) -> None:
        super().__init__()
        if "{context}" not in prompt_template:
            raise ValueError("prompt_template must contain '{context}' where the memories go")
        self.memory = memory
        self.scope = scope_ids(user_id, group_id, agent_id)
        self.token_budget = token_budget
        self.method: SearchMethod = method
        self.kinds = list(kinds) if kinds is not None else None
        self.filters = dict(filters) if filters is not None else None
        self.prompt_template = prompt_template
        self.store_turns = store_turns

    # -- scope ----------------------------------------------------------------------------------
    def _resolve(self, runtime: Runtime[Any] | None) -> ScopeIds:
        context = getattr(runtime, "context", None)
        return resolve_scope(self.scope, context, _configurable(), where="EverMemMiddleware")

    # -- recall before each model call ---------------------------------------------------------
    def _filters(self, runtime: Runtime[Any] | None) -> dict[str, Any] | None:
        """The constructor's filter and the run's (its context first, then ``configurable``), both applying."""
        context = getattr(runtime, "context", None)
        run = field_from(context, "filters")
        if run is None:
            run = _configurable().get("filters")
        if run is not None and not isinstance(run, Mapping):
            raise InvalidFilterError(f"a run's filters must be a dict such as {{'channel': 'slack'}}, got {run!r}")
        return all_of(self.filters, run)

    def _search_kwargs(self, scope: ScopeIds, request: ModelRequest[Any]) -> dict[str, Any]:
        # Memories the thread already shows verbatim would only repeat it: the budget goes to others.
        in_thread = {str(m.id) for m in request.messages if m.id}
        return {
            **scope,
            "token_budget": self.token_budget,
            "method": self.method,
            "kinds": self.kinds,
            "filters": self._filters(request.runtime),
            "exclude_message_ids": in_thread,
        }

    def _with_memories(self, request: ModelRequest[Any], result: SearchResult | None) -> ModelRequest[Any]:
        if result is None or not result.context.strip():
            return request
        logger.debug("EverMem recalled %d items (%d tokens)", len(result.items), result.context_tokens)
        text = self.prompt_template.format(context=result.context)
        return request.override(system_message=with_memory_prompt(request.system_message, text))

    def wrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], ModelResponse[Any]],
    ) -> ModelResponse[Any]:
        """Append the memories relevant to the latest user message to the system message."""
        scope = self._resolve(request.runtime)
        query = latest_user_text(request.messages)
        result = self.memory.search(query, **self._search_kwargs(scope, request)) if query else None
        return handler(self._with_memories(request, result))

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        """Async :meth:`wrap_model_call` (the search runs off the event loop)."""
        scope = self._resolve(request.runtime)
        query = latest_user_text(request.messages)
        result = await self.memory.asearch(query, **self._search_kwargs(scope, request)) if query else None
        return await handler(self._with_memories(request, result))

    # -- store after the run ---------------------------------------------------------------------
    def _turn(self, state: AgentState[Any]) -> list[dict[str, Any]]:
        if not self.store_turns:
            return []
        converted = (to_engine_message(m) for m in last_turn(state.get("messages", [])))
        return [m for m in converted if m is not None]

    def after_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Store the completed turn (user message and answers); known message ids are skipped."""
        turn = self._turn(state)
        if turn:
            self.memory.add(turn, **self._resolve(runtime))
        return None

    async def aafter_agent(self, state: AgentState[Any], runtime: Runtime[Any]) -> dict[str, Any] | None:
        """Async :meth:`after_agent`."""
        turn = self._turn(state)
        if turn:
            await self.memory.aadd(turn, **self._resolve(runtime))
        return None


def _configurable() -> dict[str, Any]:
    """Return ``configurable`` of the current LangGraph run (empty outside a run)."""
    from langgraph.config import get_config

    try:
        return dict(get_config().get("configurable") or {})
    except RuntimeError:
        return {}
