"""Helpers for the LangChain adapter tests: an in-memory EverMem and chat models that record.

``RecallingChatModel`` answers like a model that reads its prompt: it replies with the
memory line (from the system message) that shares most words with the user's question, or
"I don't know." when none does, and it records every prompt it saw, so tests assert what
reached the model.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from evermem_integrations import EverMem, StaticEmbedder

STOP = {"what", "which", "where", "when", "does", "with", "that", "this", "have", "your", "about", "name", "called"}


def words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 2 and w not in STOP}


class RecallingChatModel(BaseChatModel):
    """Answers from the memory lines of its system message; records every prompt."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "recalling-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> RecallingChatModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        question = next((str(m.text) for m in reversed(messages) if isinstance(m, HumanMessage)), "")
        lines = [
            line.lstrip("- ").strip()
            for m in messages
            if isinstance(m, SystemMessage)
            for line in str(m.text).splitlines()
        ]
        best = max(lines, key=lambda line: len(words(line) & words(question)), default="")
        answer = f"From memory: {best}" if best and words(best) & words(question) else "I don't know."
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=answer))])

    def system_text(self, call: int = -1) -> str:
        """The system prompt of one recorded call ('' if it had none)."""
        return "\n".join(str(m.text) for m in self.seen[call] if isinstance(m, SystemMessage))


@cache
def default_embedder() -> StaticEmbedder:
    """The engine's default embedder (the bundled static model), loaded once for all tests."""
    return StaticEmbedder()


def fresh_mem(**kwargs: Any) -> EverMem:
    """An in-memory EverMem (isolated per instance) sharing one loaded default model."""
    kwargs.setdefault("embedder", default_embedder())
    return EverMem(path=None, **kwargs)


class ToolCallingModel(BaseChatModel):
    """Calls the scripted tools one per turn, then answers with the last tool result it got."""

    script: list[tuple[str, dict[str, Any]]] = Field(default_factory=list)
    seen: list[list[BaseMessage]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "tool-calling-fake"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingModel:
        return self

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.seen.append(list(messages))
        if isinstance(messages[-1], ToolMessage):
            reply = AIMessage(content=f"Tool said: {messages[-1].text}")
        else:
            name, args = self.script.pop(0)
            reply = AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{len(self.seen)}"}])
        return ChatResult(generations=[ChatGeneration(message=reply)])
