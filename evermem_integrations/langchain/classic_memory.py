"""``EverMemMemory``: EverMem behind langchain-classic's ``BaseMemory`` (legacy chains).

Legacy path. ``BaseMemory`` and ``LLMChain``/``ConversationChain`` are deprecated in
LangChain 1.x; new code should use :class:`~evermem_integrations.langchain.EverMemMiddleware`
with ``create_agent`` or :func:`~evermem_integrations.langchain.with_memory` for LCEL chains.
This class exists so chains already written as ``LLMChain(..., memory=...)`` gain long-term
memory by swapping one argument::

    chain = LLMChain(llm=model, prompt=prompt, memory=EverMemMemory(memory=mem, user_id="u1"))
"""

from __future__ import annotations

from typing import Any

from langchain_classic.base_memory import BaseMemory
from langchain_core.messages import SystemMessage
from pydantic import Field

from evermem_integrations.engine.models import MemoryKind, SearchMethod
from evermem_integrations.errors import ScopeError
from evermem_integrations.langchain._common import DEFAULT_MEMORY_PROMPT, ScopeIds, output_text, scope_ids


class EverMemMemory(BaseMemory):
    """Recall the memories relevant to each chain input; store each input/output pair.

    Unlike a buffer memory it does not replay the conversation: ``load_memory_variables``
    searches the whole scope for the current input and returns the rendered memories
    (or one system message with them when ``return_messages=True``).

    Attributes:
        memory: the EverMem engine.
        user_id, group_id, agent_id: the scope (at least one).
        memory_key: the prompt variable the memories fill (default ``history``).
        input_key: the chain input holding the user's text (inferred when there is one input).
        output_key: the chain output holding the answer (inferred when there is one output).
        token_budget: tokens the recalled memories may take.
        method, kinds: how the engine searches.
        return_messages: return ``[SystemMessage]`` for chat prompts instead of a string.

    """

    memory: Any = Field(description="the EverMem engine")
    user_id: str | None = None
    group_id: str | None = None
    agent_id: str | None = None
    memory_key: str = "history"
    input_key: str | None = None
    output_key: str | None = None
    token_budget: int = 1000
    method: SearchMethod = "hybrid"
    kinds: list[MemoryKind] | None = None
    return_messages: bool = False
    prompt_template: str = DEFAULT_MEMORY_PROMPT

    @property
    def memory_variables(self) -> list[str]:
        """The one variable this memory adds to chain inputs."""
        return [self.memory_key]

    def _scope(self) -> ScopeIds:
        scope = scope_ids(self.user_id, self.group_id, self.agent_id)
        if not scope:
            raise ScopeError("EverMemMemory needs a scope: pass user_id= (or group_id=/agent_id=)")
        return scope

    def _input(self, inputs: dict[str, Any]) -> str | None:
        if self.input_key is not None:
            key = self.input_key
        else:
            keys = [k for k in inputs if k not in (self.memory_key, "stop")]
            if len(keys) != 1:
                raise ValueError(
                    f"EverMemMemory: cannot tell which input is the user's text among {keys}; set input_key="
                )
            key = keys[0]
        value = inputs.get(key)
        return str(value).strip() or None if value is not None else None

    def _variables(self, context: str) -> dict[str, Any]:
        if self.return_messages:
            return {
                self.memory_key: [SystemMessage(content=self.prompt_template.format(context=context))]
                if context
                else []
            }
        return {self.memory_key: context}

    def _turn(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> list[dict[str, str]]:
        query = self._input(inputs)
        if query is None:
            return []
        turn = [{"role": "user", "content": query}]
        answer = output_text(outputs, self.output_key)
        if answer:
            turn.append({"role": "assistant", "content": answer})
        return turn

    def load_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Recall the memories relevant to the chain's current input."""
        query = self._input(inputs)
        if query is None:
            return self._variables("")
        result = self.memory.search(
            query, **self._scope(), token_budget=self.token_budget, method=self.method, kinds=self.kinds
        )
        return self._variables(result.context)

    async def aload_memory_variables(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """Async :meth:`load_memory_variables`."""
        query = self._input(inputs)
        if query is None:
            return self._variables("")
        result = await self.memory.asearch(
            query, **self._scope(), token_budget=self.token_budget, method=self.method, kinds=self.kinds
        )
        return self._variables(result.context)

    def save_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Store the user's input and the chain's answer as one turn."""
        turn = self._turn(inputs, outputs)
        if turn:
            self.memory.add(turn, **self._scope())

    async def asave_context(self, inputs: dict[str, Any], outputs: dict[str, Any]) -> None:
        """Async :meth:`save_context`."""
        turn = self._turn(inputs, outputs)
        if turn:
            await self.memory.aadd(turn, **self._scope())

    def clear(self) -> None:
        """Delete everything EverMem holds for this scope's ids (see ``EverMem.delete``)."""
        self.memory.delete(**self._scope())

    async def aclear(self) -> None:
        """Async :meth:`clear`."""
        await self.memory.adelete(**self._scope())
