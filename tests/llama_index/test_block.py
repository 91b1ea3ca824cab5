"""EverMemBlock inside LlamaIndex's Memory (``Memory.from_defaults(memory_blocks=[...])``)."""

from __future__ import annotations

from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import Memory

from evermem_integrations import EverMem
from evermem_integrations.llama_index import EverMemBlock
from tests.llama_index.li_helpers import RecordingLLM, system_text, text_of

FACT = "My sister Ingrid lives in Reykjavik and keeps three goats."
QUESTION = "Where does my sister Ingrid live?"


def memory_with_block(engine: EverMem, user_id: str = "u1", token_limit: int = 30_000, **kwargs) -> Memory:
    block = EverMemBlock(memory=engine, user_id=user_id, **kwargs)
    return Memory.from_defaults(token_limit=token_limit, memory_blocks=[block])


def test_block_recalls_fact_in_new_session(engine: EverMem) -> None:
    # A short session: nothing overflows the short-term queue, the block stores what it is shown.
    SimpleChatEngine.from_defaults(llm=RecordingLLM("Noted!"), memory=memory_with_block(engine)).chat(FACT)
    # The user turn was stored on the read; the reply comes after the last read (see the block's docs).
    assert [m["content"] for m in engine.export_scope(user_id="u1")["messages"]] == [FACT]

    llm = RecordingLLM("Reykjavik")
    SimpleChatEngine.from_defaults(llm=llm, memory=memory_with_block(engine)).chat(QUESTION)

    system = system_text(llm.calls[-1])
    assert "<long_term_memory>" in system
    assert "Reykjavik" in system
    assert QUESTION not in system  # the live question is not echoed back as a memory


def test_block_without_active_storage_only_gets_overflow(engine: EverMem) -> None:
    # Memory's own contract: blocks receive only messages flushed out of the short-term queue.
    memory = memory_with_block(engine, token_limit=60, store_active_messages=False)
    memory.put(ChatMessage(role="user", content=FACT))
    memory.put(ChatMessage(role="assistant", content="Noted!"))
    assert engine.stats(user_id="u1").messages == 0
    for i in range(4):
        memory.put(ChatMessage(role="user", content=f"Tell me a long story about goats, part {i} of many parts."))
        memory.put(ChatMessage(role="assistant", content=f"Once upon a time, goats in chapter {i} climbed hills."))
    stored = [m["content"] for m in engine.export_scope(user_id="u1")["messages"]]
    assert FACT in stored  # it overflowed into the block
    assert len(stored) < 10  # the active tail is not stored without store_active_messages


def test_overflow_and_active_storage_do_not_duplicate(engine: EverMem) -> None:
    memory = memory_with_block(engine, token_limit=60)
    for i in range(4):
        memory.put(ChatMessage(role="user", content=f"Fact {i}: Ingrid's goat number {i} likes apples."))
        memory.get()  # the block stores the active messages on every read
        memory.put(ChatMessage(role="assistant", content=f"Noted fact {i}."))
    memory.get()
    stored = [m["content"] for m in engine.export_scope(user_id="u1")["messages"]]
    assert len(stored) == len(set(stored)) == 8


def test_block_scopes_do_not_leak(engine: EverMem) -> None:
    SimpleChatEngine.from_defaults(llm=RecordingLLM("Noted!"), memory=memory_with_block(engine, "alice")).chat(FACT)
    llm = RecordingLLM("?")
    SimpleChatEngine.from_defaults(llm=llm, memory=memory_with_block(engine, "bob")).chat(QUESTION)
    assert "Reykjavik" not in text_of(llm.calls[-1])


async def test_block_async(engine: EverMem) -> None:
    await SimpleChatEngine.from_defaults(llm=RecordingLLM("Noted!"), memory=memory_with_block(engine)).achat(FACT)
    memory = memory_with_block(engine)
    await memory.aput(ChatMessage(role="user", content=QUESTION))
    messages = await memory.aget()
    assert "Reykjavik" in system_text(messages)


async def test_block_budget_and_empty_input(engine: EverMem) -> None:
    block = EverMemBlock(memory=engine, user_id="u1", token_budget=60)
    assert await block.aget([]) == ""
    await block.aput([ChatMessage(role="user", content=f"Goat {i} of Ingrid is called Bleat{i}.") for i in range(30)])
    context = await block.aget([ChatMessage(role="user", content="What are Ingrid's goats called?")])
    from evermem_integrations.engine.tokens import count_tokens

    assert "Bleat" in context
    assert count_tokens(context) <= 60
