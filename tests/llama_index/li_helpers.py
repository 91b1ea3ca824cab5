"""Recording LLMs and prompt helpers for the LlamaIndex adapter tests.

The mock LLMs keep a deep copy of every message list they are sent, so tests assert what
reached the model, not what the mock answered.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ToolCallBlock,
)
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.mock import MockFunctionCallingLLM, MockLLM
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from pydantic import Field, PrivateAttr


def text_of(messages: Sequence[ChatMessage]) -> str:
    """Everything the model was shown, as one string."""
    return "\n".join("\n".join(b.text for b in m.blocks if isinstance(b, TextBlock)) for m in messages)


def system_text(messages: Sequence[ChatMessage]) -> str:
    """The text of the system messages only."""
    return text_of([m for m in messages if m.role == MessageRole.SYSTEM])


class RecordingLLM(MockLLM):
    """A chat model that records every message list and answers with a fixed reply."""

    reply: str = "ok"
    completion: str | None = None
    calls: list[list[ChatMessage]] = Field(default_factory=list, exclude=True)
    prompts: list[str] = Field(default_factory=list, exclude=True)

    def __init__(self, reply: str = "ok", completion: str | None = None) -> None:
        super().__init__(is_chat_model=True)
        self.reply = reply
        self.completion = completion

    @classmethod
    def class_name(cls) -> str:
        return "RecordingLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=True, context_window=16_000, num_output=256)

    def _record(self, messages: Sequence[ChatMessage]) -> ChatMessage:
        self.calls.append(copy.deepcopy(list(messages)))
        return ChatMessage(role=MessageRole.ASSISTANT, content=self.reply)

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return ChatResponse(message=self._record(messages))

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        message = self._record(messages)

        def gen() -> ChatResponseGen:
            yield ChatResponse(message=message, delta=message.content)

        return gen()

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return ChatResponse(message=self._record(messages))

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        message = self._record(messages)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            yield ChatResponse(message=message, delta=message.content)

        return gen()

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        self.prompts.append(prompt)
        return CompletionResponse(text=self.completion if self.completion is not None else prompt)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return self.complete(prompt, formatted=formatted, **kwargs)


class RecordingToolLLM(MockFunctionCallingLLM):
    """A function-calling model: calls ``tool_name`` once per user turn, then answers ``reply``.

    Records every message list it is sent in ``calls``.
    """

    _calls: list[list[ChatMessage]] = PrivateAttr(default_factory=list)

    _tool_name: str = PrivateAttr(default="")
    _reply: str = PrivateAttr(default="done")

    def __init__(self, tool_name: str, reply: str = "done") -> None:
        super().__init__(response_generator=self._respond)
        self._tool_name = tool_name
        self._reply = reply

    @property
    def calls(self) -> list[list[ChatMessage]]:
        return self._calls

    def _respond(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        self._calls.append(copy.deepcopy(list(messages)))
        last_user = max(i for i, m in enumerate(messages) if m.role == MessageRole.USER)
        if any(m.role == MessageRole.TOOL for m in messages[last_user:]):
            return ChatMessage(role=MessageRole.ASSISTANT, content=self._reply)
        call = ToolCallBlock(tool_call_id=f"call-{len(self._calls)}", tool_name=self._tool_name, tool_kwargs={})
        return ChatMessage(role=MessageRole.ASSISTANT, blocks=[call])


class NotesRetriever(BaseRetriever):
    """A document retriever with one fixed note (the knowledge a ContextChatEngine answers from).

    Response synthesis skips the LLM when no node is retrieved, so context chat engines need
    at least one node for the prompt to be observable.
    """

    NOTE = "Office hours are 9 to 5."

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return [NodeWithScore(node=TextNode(text=self.NOTE), score=1.0)]
