"""EverMemMemory on its own: what it stores, what it returns, and its limits."""

from __future__ import annotations

import pytest
from llama_index.core.llms import ChatMessage
from llama_index.core.memory import Memory

from evermem_integrations import EverMem, ScopeError
from evermem_integrations.engine.tokens import count_tokens
from evermem_integrations.llama_index import EverMemMemory

FACT = "My sister Ingrid lives in Reykjavik and keeps three goats."


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def assistant(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=text)


def test_get_returns_history_with_context_system_message(engine: EverMem) -> None:
    EverMemMemory.from_defaults(memory=engine, user_id="u1").put_messages([user(FACT), assistant("Noted!")])
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    memory.put(user("Where does Ingrid live?"))

    messages = memory.get()

    assert [m.role.value for m in messages] == ["system", "user"]
    assert "Reykjavik" in messages[0].content
    assert messages[0].content.startswith("Long-term memory")
    assert memory.last_context in messages[0].content
    assert memory.get_all() == [user("Where does Ingrid live?")]  # get_all: short-term only, no context


def test_get_without_any_memory_returns_plain_history(engine: EverMem) -> None:
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    assert memory.get() == []
    assert memory.get(input="hello") == []


def test_context_respects_token_budget(engine: EverMem) -> None:
    old = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    old.put_messages(
        [user(f"Note {i}: Ingrid's goat number {i} is named Goat{i} and eats hay from Reykjavik.") for i in range(40)]
    )
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1", token_budget=120)
    memory.get(input="What are Ingrid's goats named?")
    assert 0 < count_tokens(memory.last_context) <= 120
    assert "Goat" in memory.last_context


def test_live_window_is_not_repeated_as_memory(engine: EverMem) -> None:
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    memory.put(user(FACT))
    memory.put(assistant("Noted!"))
    memory.put(user("Where does Ingrid live?"))
    # Everything stored is in the short-term window: nothing to add.
    assert [m.role.value for m in memory.get()] == ["user", "assistant", "user"]
    assert memory.last_context == ""


def test_reset_clears_short_term_only(engine: EverMem) -> None:
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    memory.put_messages([user(FACT), assistant("Noted!")])
    memory.reset()
    assert memory.get_all() == []
    assert engine.stats(user_id="u1").messages == 2
    # After the reset the old turns are no longer in the window, so they are recalled.
    memory.put(user("Where does Ingrid live?"))
    assert "Reykjavik" in memory.get()[0].content
    # The same words after a reset are a new turn, stored again.
    memory.put(user(FACT))
    assert engine.stats(user_id="u1").messages == 4


def test_set_is_idempotent_for_resent_history(engine: EverMem) -> None:
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1", session_id="s1")
    history = [user(FACT), assistant("Noted!"), user("Thanks"), assistant("You're welcome")]
    memory.set(history)
    memory.set(history)
    memory.set([*history, user("Bye")])
    assert engine.stats(user_id="u1").messages == 5
    # A new instance with the same session re-sending the same history stores nothing either.
    EverMemMemory.from_defaults(memory=engine, user_id="u1", session_id="s1", chat_history=history)
    assert engine.stats(user_id="u1").messages == 5


def test_repeated_words_in_one_session_are_separate_turns(engine: EverMem) -> None:
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    memory.put(user("yes"))
    memory.put(user("yes"))
    assert engine.stats(user_id="u1").messages == 2


def test_only_user_and_assistant_text_is_stored(engine: EverMem) -> None:
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    memory.put_messages(
        [
            ChatMessage(role="system", content="You are terse."),
            user(FACT),
            ChatMessage(role="tool", content="42", additional_kwargs={"tool_call_id": "c1"}),
            assistant("Thought: the user told me a fact.\nAnswer: Noted!"),
        ]
    )
    assert [(m.role, m.content) for m in engine.get(user_id="u1", kind="raw")] == [
        ("user", FACT),
        ("assistant", "Noted!"),
    ]
    assert len(memory.get_all()) == 4  # the short-term buffer keeps everything


def test_sender_names_and_timestamps(engine: EverMem) -> None:
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1", user_name="Ana", assistant_name="Bot")
    memory.put(ChatMessage(role="user", content=FACT, additional_kwargs={"timestamp": "2023-05-07T10:00:00Z"}))
    memory.put(assistant("Noted!"))
    stored = engine.export_scope(user_id="u1")["messages"]
    assert [m["sender"] for m in stored] == ["Ana", "Bot"]
    assert stored[0]["timestamp"].startswith("2023-05-07")


def test_a_long_message_is_stored_whole_and_found_by_a_passage(engine: EverMem) -> None:
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    pasted = "word " * 15_000 + "The vault code is under the blue lamp. " + "word " * 15_000  # 150,000 characters
    memory.put(user(pasted))
    assert engine.stats(user_id="u1").messages == 1
    assert [m.content for m in engine.get(user_id="u1", kind="message")] == [pasted.strip()]
    assert "blue lamp" in engine.search("Where is the vault code?", user_id="u1", token_budget=500).context


def test_insert_method_user_prepends_context_to_latest_user_message(engine: EverMem) -> None:
    EverMemMemory.from_defaults(memory=engine, user_id="u1").put(user(FACT))
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1", insert_method="user")
    memory.put(user("Where does Ingrid live?"))
    messages = memory.get()
    assert [m.role.value for m in messages] == ["user"]
    assert "Reykjavik" in messages[0].content
    assert messages[0].content.endswith("Where does Ingrid live?")
    assert memory.get_all()[0].content == "Where does Ingrid live?"  # the stored turn is untouched


def test_custom_short_term_memory_is_used(engine: EverMem) -> None:
    short_term = Memory.from_defaults(session_id="mine", token_limit=5000)
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1", short_term=short_term)
    memory.put(user(FACT))
    assert short_term.get_all() == [user(FACT)]


def test_scopes_are_exact(engine: EverMem) -> None:
    EverMemMemory.from_defaults(memory=engine, user_id="u1", group_id="g1").put(user(FACT))
    for scope in ({"user_id": "u1"}, {"group_id": "g1"}, {"user_id": "u2", "group_id": "g1"}):
        memory = EverMemMemory.from_defaults(memory=engine, **scope)
        memory.get(input="Where does Ingrid live?")
        assert memory.last_context == "", scope
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1", group_id="g1")
    memory.get(input="Where does Ingrid live?")
    assert "Reykjavik" in memory.last_context


def test_configuration_errors_say_what_to_fix(engine: EverMem) -> None:
    with pytest.raises(ScopeError, match="user_id="):
        EverMemMemory.from_defaults(memory=engine)
    with pytest.raises(TypeError, match="memory=EverMem"):
        EverMemMemory.from_defaults(user_id="u1")
    with pytest.raises(ValueError, match="context"):
        EverMemMemory.from_defaults(memory=engine, user_id="u1", context_template="no slot")
    with pytest.raises(ValueError, match="not both"):
        EverMemMemory.from_defaults(memory=engine, user_id="u1", session_id="s", short_term=Memory.from_defaults())


async def test_async_paths(engine: EverMem) -> None:
    old = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    await old.aput_messages([user(FACT), assistant("Noted!")])
    memory = EverMemMemory.from_defaults(memory=engine, user_id="u1")
    await memory.aset([user("Hello")])
    await memory.aput(user("Where does Ingrid live?"))
    messages = await memory.aget()
    assert "Reykjavik" in messages[0].content
    assert [m.content for m in await memory.aget_all()] == ["Hello", "Where does Ingrid live?"]
    await memory.areset()
    assert await memory.aget_all() == []
    assert engine.stats(user_id="u1").messages == 4
