import pytest

from evermem_integrations import EverMem, InvalidMessageError, ScopeError
from evermem_integrations.engine.models import MAX_MESSAGE_CHARS, Scope

GOOD = {"id": "m1", "sender": "Ana", "content": "I adopted a cat named Miso.", "timestamp": "2024-03-01T10:00:00Z"}


@pytest.mark.parametrize(
    ("bad", "fragment"),
    [
        ({**GOOD, "content": ""}, "empty"),
        ({**GOOD, "content": "   "}, "empty"),
        ({**GOOD, "content": 42}, "must be a string"),
        ({**GOOD, "content": ["a", "b"]}, "must be a string"),
        ({**GOOD, "content": "x" * (MAX_MESSAGE_CHARS + 1)}, "split it"),
        ({**GOOD, "timestamp": "not a date"}, "cannot read timestamp"),
        ({k: v for k, v in GOOD.items() if k != "sender"}, "needs a sender"),
    ],
)
def test_bad_message_raises_and_stores_nothing(mem: EverMem, bad: dict, fragment: str) -> None:
    mem.add([{**GOOD, "id": "m0", "content": "Earlier message about gardening and tomatoes."}], user_id="u1")
    with pytest.raises(InvalidMessageError, match=fragment) as caught:
        mem.add([{**GOOD, "id": "ok"}, bad], user_id="u1")
    assert "message 1" in str(caught.value)  # names the offending message
    stats = mem.stats(user_id="u1")
    assert stats.messages == 1  # the earlier message survives, nothing of the bad batch is stored


def test_a_string_is_not_a_message_list(mem: EverMem) -> None:
    with pytest.raises(InvalidMessageError, match="not a string"):
        mem.add("hello", user_id="u1")  # type: ignore[arg-type]


@pytest.mark.parametrize("call", ["add", "search", "flush", "get", "stats"])
def test_calls_without_scope_are_refused(mem: EverMem, call: str) -> None:
    with pytest.raises(ScopeError, match="no scope given"):
        if call == "add":
            mem.add([GOOD])
        elif call == "search":
            mem.search("cat")
        else:
            getattr(mem, call)()


def test_blank_scope_id_is_refused() -> None:
    with pytest.raises(ScopeError, match="non-empty"):
        Scope.of(user_id="  ")


def test_messages_without_ids_get_stable_hash_ids(mem: EverMem) -> None:
    message = {k: v for k, v in GOOD.items() if k != "id"}
    first = mem.add([message], user_id="u1")
    again = mem.add([message], user_id="u1")
    assert (first.added, first.skipped) == (1, 0)
    assert (again.added, again.skipped) == (0, 1)


def test_same_content_under_a_new_id_adds_nothing(mem: EverMem) -> None:
    mem.add([GOOD], user_id="u1")
    result = mem.add([{**GOOD, "id": "m1-copy"}], user_id="u1")
    assert result.skipped == 1
    mem.flush(user_id="u1")
    assert mem.stats(user_id="u1").facts == 1


def test_re_said_statement_at_another_time_adds_no_new_fact(mem: EverMem) -> None:
    mem.add([GOOD], user_id="u1")
    mem.flush(user_id="u1")
    mem.add([{**GOOD, "id": "m9", "timestamp": "2024-03-05T10:00:00Z"}], user_id="u1")
    mem.flush(user_id="u1")
    stats = mem.stats(user_id="u1")
    assert stats.messages == 2
    assert stats.facts == 1


def test_message_shapes_are_normalised(mem: EverMem) -> None:
    mem.set_conversation_meta(user_id="u1", user_details={"name": "Ana"})
    mem.add(
        [
            {"role": "user", "content": "My favorite color is teal.", "time": 1709287200},
            {"role": "assistant", "text": "Noted, teal it is!", "created_at": "2024-03-01T10:00:05Z"},
            {"name": "Bo", "content": "I live in Lisbon now.", "timestamp": "1 March 2024"},
        ],
        user_id="u1",
    )
    senders = [m.sender for m in mem.get(user_id="u1", kind="message")]
    assert senders == ["Bo", "Ana", "assistant"]
