r"""``with_memory``: long-term memory around any LCEL runnable (chains built with ``|``).

::

    prompt = ChatPromptTemplate.from_messages([
        ("system", "You are helpful. What you remember:\\n{memories}"),
        ("human", "{input}"),
    ])
    chain = with_memory(prompt | model, mem)
    chain.invoke({"input": "What is my dog called?"}, config={"configurable": {"user_id": "u1"}})

Before the runnable runs, the memories relevant to the user's input are added to the input;
after it completes, the turn (input and answer) is stored in EverMem.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.messages import BaseMessage, SystemMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import Runnable, RunnableConfig, RunnableSerializable, ensure_config, patch_config
from pydantic import ConfigDict, Field

from evermem_integrations.engine.models import MemoryKind, SearchMethod
from evermem_integrations.langchain._common import (
    DEFAULT_MEMORY_PROMPT,
    ScopeIds,
    latest_user_text,
    output_text,
    resolve_scope,
    scope_ids,
    with_memory_prompt,
)
from evermem_integrations.memory import EverMem


class EverMemRunnable(RunnableSerializable[Any, Any]):
    """A runnable wrapped with EverMem recall (before) and storage (after); see :func:`with_memory`.

    Input shapes:
        * ``dict``: the query is ``input[input_key]``; the memories are added as ``input[memory_key]``
          (an empty string when nothing is recalled), for a prompt template to place.
        * ``str``: becomes ``{input_key: text, memory_key: memories}``.
        * a list of messages or a ``PromptValue`` (e.g. wrapping a chat model directly): the
          memories are appended to the system message (one is added in front if missing).

    The scope comes from ``config["configurable"]`` (``user_id``/``group_id``/``agent_id``),
    over the ids given to :func:`with_memory`.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    bound: Runnable[Any, Any]
    memory: Any = Field(description="the EverMem engine")
    user_id: str | None = None
    group_id: str | None = None
    agent_id: str | None = None
    input_key: str = "input"
    memory_key: str = "memories"
    output_key: str | None = None
    token_budget: int = 1000
    method: SearchMethod = "hybrid"
    kinds: list[MemoryKind] | None = None
    prompt_template: str = DEFAULT_MEMORY_PROMPT
    store_turns: bool = True

    # -- plumbing ---------------------------------------------------------------------------------
    def _scope(self, config: RunnableConfig) -> ScopeIds:
        defaults = scope_ids(self.user_id, self.group_id, self.agent_id)
        return resolve_scope(defaults, config.get("configurable"), where="with_memory()")

    def _query(self, value: Any) -> str | None:
        if isinstance(value, str):
            return value.strip() or None
        if isinstance(value, PromptValue):
            return latest_user_text(value.to_messages())
        if isinstance(value, Mapping):
            if self.input_key not in value:
                raise KeyError(
                    f"with_memory(): the input has no {self.input_key!r} key; "
                    "set input_key= to the field holding the user's text"
                )
            return self._query(value[self.input_key])
        if isinstance(value, Sequence) and all(isinstance(m, BaseMessage) for m in value):
            return latest_user_text(value)
        raise TypeError(
            f"with_memory(): cannot find the user's text in a {type(value).__name__}; pass a dict, a str or messages"
        )

    def _prepared(self, value: Any, context: str) -> Any:
        if isinstance(value, str):
            return {self.input_key: value, self.memory_key: context}
        if isinstance(value, Mapping):
            return {**value, self.memory_key: context}
        messages = value.to_messages() if isinstance(value, PromptValue) else list(value)
        if not context:
            return messages
        memory_text = self.prompt_template.format(context=context)
        if messages and isinstance(messages[0], SystemMessage):
            return [with_memory_prompt(messages[0], memory_text), *messages[1:]]
        return [SystemMessage(content=memory_text), *messages]

    def _search_kwargs(self, scope: ScopeIds) -> dict[str, Any]:
        return {**scope, "token_budget": self.token_budget, "method": self.method, "kinds": self.kinds}

    def _turn(self, query: str | None, output: Any) -> list[dict[str, Any]]:
        if not self.store_turns or query is None:
            return []
        turn: list[dict[str, Any]] = [{"role": "user", "content": query, "timestamp": datetime.now(UTC)}]
        answer = output_text(output, self.output_key)
        if answer:
            turn.append({"role": "assistant", "content": answer, "timestamp": datetime.now(UTC)})
        return turn

    # -- sync ----------------------------------------------------------------------------------------
    def _invoke(self, value: Any, run_manager: CallbackManagerForChainRun, config: RunnableConfig) -> Any:
        scope = self._scope(config)
        query = self._query(value)
        context = self.memory.search(query, **self._search_kwargs(scope)).context if query else ""
        output = self.bound.invoke(
            self._prepared(value, context), patch_config(config, callbacks=run_manager.get_child())
        )
        turn = self._turn(query, output)
        if turn:
            self.memory.add(turn, **scope)
        return output

    def invoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Recall, run the wrapped runnable, store the turn."""
        return self._call_with_config(self._invoke, input, ensure_config(config), **kwargs)

    # -- async ---------------------------------------------------------------------------------------
    async def _ainvoke(self, value: Any, run_manager: AsyncCallbackManagerForChainRun, config: RunnableConfig) -> Any:
        scope = self._scope(config)
        query = self._query(value)
        context = (await self.memory.asearch(query, **self._search_kwargs(scope))).context if query else ""
        output = await self.bound.ainvoke(
            self._prepared(value, context), patch_config(config, callbacks=run_manager.get_child())
        )
        turn = self._turn(query, output)
        if turn:
            await self.memory.aadd(turn, **scope)
        return output

    async def ainvoke(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        """Async :meth:`invoke`."""
        return await self._acall_with_config(self._ainvoke, input, ensure_config(config), **kwargs)


def with_memory(
    runnable: Runnable[Any, Any],
    memory: EverMem,
    *,
    user_id: str | None = None,
    group_id: str | None = None,
    agent_id: str | None = None,
    input_key: str = "input",
    memory_key: str = "memories",
    output_key: str | None = None,
    token_budget: int = 1000,
    method: SearchMethod = "hybrid",
    kinds: Sequence[MemoryKind] | None = None,
    prompt_template: str = DEFAULT_MEMORY_PROMPT,
    store_turns: bool = True,
) -> EverMemRunnable:
    """Wrap ``runnable`` so it recalls EverMem memories into its input and stores each turn.

    Args:
        runnable: any LCEL runnable (``prompt | model``, a chat model, an agent...).
        memory: the EverMem engine.
        user_id: a fixed user scope; per run, ``configurable`` ids take precedence.
        group_id: a fixed group scope (same precedence).
        agent_id: a fixed agent scope (same precedence).
        input_key: the input field holding the user's text (dict inputs).
        memory_key: the input field the recalled memories are written to (dict inputs).
        output_key: the output field holding the answer (dict outputs; common names are tried).
        token_budget: tokens the recalled memories may take.
        method: the engine's search method.
        kinds: the memory kinds to recall (engine default when ``None``).
        prompt_template: for message inputs, how memories are introduced (``{context}``).
        store_turns: store each completed turn (``False`` for read-only use).

    Returns:
        A runnable with ``invoke``/``ainvoke`` (and LCEL's ``batch``/``stream`` built on them).

    """
    if "{context}" not in prompt_template:
        raise ValueError("prompt_template must contain '{context}' where the memories go")
    return EverMemRunnable(
        bound=runnable,
        memory=memory,
        user_id=user_id,
        group_id=group_id,
        agent_id=agent_id,
        input_key=input_key,
        memory_key=memory_key,
        output_key=output_key,
        token_budget=token_budget,
        method=method,
        kinds=list(kinds) if kinds is not None else None,
        prompt_template=prompt_template,
        store_turns=store_turns,
    )
