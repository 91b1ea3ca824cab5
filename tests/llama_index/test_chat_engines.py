"""EverMemMemory with LlamaIndex chat engines: a fact told in one session reaches the prompt of the next."""

from __future__ import annotations

import pytest
from llama_index.core.chat_engine import CondensePlusContextChatEngine, ContextChatEngine, SimpleChatEngine
from llama_index.core.llms import ChatMessage

from evermem_integrations import EverMem
from evermem_integrations.llama_index import EverMemMemory
from tests.llama_index.li_helpers import NotesRetriever, RecordingLLM, system_text, text_of

FACT = "My sister Ingrid lives in Reykjavik and keeps three goats."
QUESTION = "Where does my sister Ingrid live?"


def session(engine: EverMem, user_id: str = "u1", **kwargs) -> EverMemMemory:
    return EverMemMemory.from_defaults(memory=engine, user_id=user_id, **kwargs)


def tell_fact(engine: EverMem, user_id: str = "u1") -> None:
    llm = RecordingLLM("Noted!")
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=session(engine, user_id))
    chat.chat(FACT)


def test_simple_chat_engine_recalls_fact_in_new_session(engine: EverMem) -> None:
    tell_fact(engine)
    llm = RecordingLLM("Reykjavik")
    memory = session(engine)
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=memory, system_prompt="Be brief.")

    chat.chat(QUESTION)

    seen = llm.calls[-1]
    assert "Reykjavik" in system_text(seen)
    assert seen[0].content == "Be brief."  # the engine's own prefix stays first
    assert seen[-1].content == QUESTION
    # The question itself is in the window, so it is not repeated as a "memory".
    assert QUESTION not in system_text(seen)
    # Short-term history of this session only: the old session's turns are not replayed.
    assert [m.content for m in chat.chat_history] == [QUESTION, "Reykjavik"]


def test_simple_chat_engine_second_turn_sees_both_memories(engine: EverMem) -> None:
    tell_fact(engine)
    llm = RecordingLLM("Sure.")
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=session(engine))
    chat.chat("Hello again!")
    chat.chat("How many goats does Ingrid keep?")

    seen = llm.calls[-1]
    assert "three goats" in system_text(seen)
    assert [m.content for m in seen if m.role == "user"] == ["Hello again!", "How many goats does Ingrid keep?"]


def test_scopes_never_leak_between_users(engine: EverMem) -> None:
    tell_fact(engine, user_id="alice")
    llm = RecordingLLM("I don't know.")
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=session(engine, user_id="bob"))
    chat.chat(QUESTION)
    assert "Reykjavik" not in text_of(llm.calls[-1])
    assert engine.stats(user_id="bob").messages == 2  # bob's own turn was stored in bob's scope
    assert engine.stats(user_id="alice").messages == 2


def test_simple_chat_engine_stream_chat(engine: EverMem) -> None:
    tell_fact(engine)
    llm = RecordingLLM("Reykjavik")
    memory = session(engine)
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    response = chat.stream_chat(QUESTION)
    assert "".join(response.response_gen) == "Reykjavik"  # ends once the reply is in memory
    assert "Reykjavik" in system_text(llm.calls[-1])
    assert [m.content for m in memory.get_all()] == [QUESTION, "Reykjavik"]


async def test_simple_chat_engine_async(engine: EverMem) -> None:
    llm = RecordingLLM("Noted!")
    await SimpleChatEngine.from_defaults(llm=llm, memory=session(engine)).achat(FACT)
    llm = RecordingLLM("Reykjavik")
    await SimpleChatEngine.from_defaults(llm=llm, memory=session(engine)).achat(QUESTION)
    assert "Reykjavik" in system_text(llm.calls[-1])


async def test_simple_chat_engine_astream_chat(engine: EverMem) -> None:
    tell_fact(engine)
    llm = RecordingLLM("Reykjavik")
    memory = session(engine)
    response = await SimpleChatEngine.from_defaults(llm=llm, memory=memory).astream_chat(QUESTION)
    tokens = [token async for token in response.async_response_gen()]  # awaits the memory write
    assert "".join(tokens) == "Reykjavik"
    assert "Reykjavik" in system_text(llm.calls[-1])
    assert [m.content for m in await memory.aget_all()] == [QUESTION, "Reykjavik"]


def test_context_chat_engine_calls_get_with_input_before_put(engine: EverMem) -> None:
    # ContextChatEngine reads memory with input=message before it stores the user turn.
    tell_fact(engine)
    llm = RecordingLLM("Reykjavik")
    memory = session(engine)
    chat = ContextChatEngine.from_defaults(retriever=NotesRetriever(), llm=llm, memory=memory)
    chat.chat(QUESTION)
    assert "Reykjavik" in system_text(llm.calls[-1])
    assert [m.content for m in memory.get_all()] == [QUESTION, "Reykjavik"]


async def test_context_chat_engine_async(engine: EverMem) -> None:
    tell_fact(engine)
    llm = RecordingLLM("Reykjavik")
    chat = ContextChatEngine.from_defaults(retriever=NotesRetriever(), llm=llm, memory=session(engine))
    await chat.achat(QUESTION)
    assert "Reykjavik" in system_text(llm.calls[-1])


def test_condense_plus_context_chat_engine(engine: EverMem) -> None:
    tell_fact(engine)
    # The condense step (a completion) is answered with the question itself.
    llm = RecordingLLM("Reykjavik", completion=QUESTION)
    memory = session(engine)
    chat = CondensePlusContextChatEngine.from_defaults(retriever=NotesRetriever(), llm=llm, memory=memory)
    chat.chat(QUESTION)
    assert "Reykjavik" in system_text(llm.calls[-1])
    # The recalled memory also reached the condense prompt, as chat history.
    assert "Reykjavik" in llm.prompts[-1]
    assert [m.content for m in memory.get_all()] == [QUESTION, "Reykjavik"]


async def test_condense_plus_context_chat_engine_async(engine: EverMem) -> None:
    tell_fact(engine)
    llm = RecordingLLM("Reykjavik", completion=QUESTION)
    chat = CondensePlusContextChatEngine.from_defaults(retriever=NotesRetriever(), llm=llm, memory=session(engine))
    await chat.achat(QUESTION)
    assert "Reykjavik" in system_text(llm.calls[-1])


def test_chat_history_argument_is_not_stored_twice(engine: EverMem) -> None:
    llm = RecordingLLM("Noted!")
    memory = session(engine, session_id="s1")
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=memory)
    history = [ChatMessage(role="user", content=FACT), ChatMessage(role="assistant", content="Noted!")]
    chat.chat("And she has a cat.", chat_history=history)
    chat.chat("The cat is called Mitten.", chat_history=chat.chat_history)
    # 2 history turns + 2 exchanges; re-sending the history stored nothing again.
    assert engine.stats(user_id="u1").messages == 6


@pytest.mark.parametrize("method", ["keyword", "vector", "hybrid"])
def test_search_method_is_used(engine: EverMem, method: str) -> None:
    tell_fact(engine)
    llm = RecordingLLM("ok")
    memory = session(engine, search_method=method)
    SimpleChatEngine.from_defaults(llm=llm, memory=memory).chat("Ingrid goats Reykjavik sister")
    assert "Reykjavik" in memory.last_context
