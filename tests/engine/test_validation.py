"""Every public argument is checked: a typed error that says what to fix, and nothing stored is lost."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evermem_integrations import EverMem, EverMemError, InputError, InvalidQueryError, ScopeError

GOOD = {"sender": "Ana", "content": "I adopted a cat named Miso.", "timestamp": "2024-03-01T10:00:00Z"}
CANARY = {"id": "canary", "sender": "Bo", "content": "The canary's vault code is 9321.", "timestamp": "2024-01-01"}


@pytest.fixture(scope="module")
def engine() -> Iterator[EverMem]:
    mem = EverMem(path=None)
    mem.add([CANARY], user_id="canary")
    mem.flush(user_id="canary")
    yield mem
    assert_canary(mem)
    mem.close()


def assert_canary(mem: EverMem) -> None:
    assert [m.id for m in mem.get(kind="message", user_id="canary")] == ["canary"]
    assert "9321" in mem.search("vault code", user_id="canary").context


BAD_CALLS: list[tuple[str, Callable[[EverMem], Any]]] = [
    ("get limit str", lambda m: m.get(user_id="u", limit="5")),
    ("get limit -1", lambda m: m.get(user_id="u", limit=-1)),
    ("get kind bogus", lambda m: m.get(user_id="u", kind="bogus")),
    ("search budget str", lambda m: m.search("cat", user_id="u", token_budget="abc")),
    ("search budget 0", lambda m: m.search("cat", user_id="u", token_budget=0)),
    ("search budget bool", lambda m: m.search("cat", user_id="u", token_budget=True)),
    ("search method bogus", lambda m: m.search("cat", user_id="u", method="bogus")),
    ("search kinds bogus", lambda m: m.search("cat", user_id="u", kinds=["bogus"])),
    ("search kinds str", lambda m: m.search("cat", user_id="u", kinds="fact")),
    ("search limit -1", lambda m: m.search("cat", user_id="u", limit=-1)),
    ("search exclude str", lambda m: m.search("cat", user_id="u", exclude_message_ids="D1:3")),
    ("search query surrogate", lambda m: m.search("cat \ud800", user_id="u")),
    ("search query huge", lambda m: m.search("cat " * 20_000, user_id="u")),
    ("search scope surrogate", lambda m: m.search("cat", user_id="u\ud800")),
    ("delete list", lambda m: m.delete(["a"])),
    ("delete empty user", lambda m: m.delete(user_id="")),
    ("add id surrogate", lambda m: m.add([{**GOOD, "id": "m\ud800"}], user_id="u")),
    ("add metadata not json", lambda m: m.add([{**GOOD, "metadata": {"x": object()}}], user_id="u")),
    ("add metadata list", lambda m: m.add([{**GOOD, "metadata": [1, 2]}], user_id="u")),
    ("add control-only content", lambda m: m.add([{**GOOD, "content": "\x00\x01\u200b\u200d"}], user_id="u")),
    ("add zero-width content", lambda m: m.add([{**GOOD, "content": "\u200b\u2060\ufeff"}], user_id="u")),
    ("add huge sender", lambda m: m.add([{**GOOD, "sender": "A" * 10_000_000}], user_id="u")),
    ("add huge id", lambda m: m.add([{**GOOD, "id": "i" * 10_000_000}], user_id="u")),
    ("add id dict", lambda m: m.add([{**GOOD, "id": {"a": 1}}], user_id="u")),
    ("add not iterable", lambda m: m.add(5, user_id="u")),
    ("add list of ints", lambda m: m.add([5], user_id="u")),
    ("profile subject int", lambda m: m.get_profile(5, user_id="u")),
    ("meta details not json", lambda m: m.set_conversation_meta(user_id="u", user_details={"a": {1, 2}})),
    ("import not a dict", lambda m: m.import_scope([1])),
    ("import bad scope", lambda m: m.import_scope({"format": "evermem-export/1", "scope": 5, "messages": []})),
    ("import bad messages", lambda m: m.import_scope({"format": "evermem-export/1", "scope": {}, "messages": 3})),
]


@pytest.mark.parametrize(("name", "call"), BAD_CALLS, ids=[name for name, _ in BAD_CALLS])
def test_bad_arguments_raise_typed_errors(engine: EverMem, name: str, call: Callable[[EverMem], Any]) -> None:
    with pytest.raises(InputError) as caught:
        call(engine)
    assert len(str(caught.value)) < 400  # a message, not an echo of the input
    assert_canary(engine)


def test_none_id_means_a_derived_id(engine: EverMem) -> None:
    result = engine.add([{**GOOD, "id": None}], user_id="ids")
    assert result.added == 1
    assert engine.get(kind="message", user_id="ids")[0].id.startswith("msg_")


def test_delete_with_a_blank_scope_is_refused_not_a_no_op(engine: EverMem) -> None:
    with pytest.raises(ScopeError):
        engine.delete(user_id="   ")
    with pytest.raises(InvalidQueryError):
        engine.delete(123)  # type: ignore[arg-type]


# -- fuzzing -------------------------------------------------------------------------------------
ANY = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=12),
    st.binary(max_size=8),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
MESSAGE = st.fixed_dictionaries(
    {},
    optional={"id": ANY, "sender": ANY, "content": ANY, "timestamp": ANY, "metadata": ANY, "role": ANY, "text": ANY},
)
SCOPE = st.one_of(
    st.just({"user_id": "fuzz"}),
    st.just({"group_id": "g|user=fuzz", "agent_id": "a"}),
    st.fixed_dictionaries({}, optional={"user_id": ANY, "group_id": ANY, "agent_id": ANY}),
)
OUTCOMES: Counter[str] = Counter()


def _outcome(call: Callable[[], Any]) -> None:
    try:
        call()
    except EverMemError as exc:
        OUTCOMES[f"typed {type(exc).__name__}"] += 1
    else:
        OUTCOMES["accepted"] += 1


FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(messages=st.one_of(ANY, st.lists(MESSAGE, max_size=3), MESSAGE), scope=SCOPE)
def test_fuzz_add(engine: EverMem, messages: Any, scope: dict[str, Any]) -> None:
    _outcome(lambda: engine.add(messages, **scope))


@FUZZ
@given(
    query=ANY,
    scope=SCOPE,
    budget=ANY,
    method=st.one_of(ANY, st.sampled_from(["hybrid", "keyword", "vector", "scene"])),
    kinds=st.one_of(ANY, st.lists(st.sampled_from(["fact", "raw", "bogus", "episode"]), max_size=3)),
    limit=ANY,
    exclude=ANY,
    filters=st.one_of(ANY, st.dictionaries(st.sampled_from(["subject", "after", "bogus"]), ANY, max_size=2)),
)
def test_fuzz_search(engine: EverMem, **kwargs: Any) -> None:
    scope = kwargs.pop("scope")
    _outcome(
        lambda: engine.search(
            kwargs["query"],
            **scope,
            token_budget=kwargs["budget"],
            method=kwargs["method"],
            kinds=kwargs["kinds"],
            limit=kwargs["limit"],
            exclude_message_ids=kwargs["exclude"],
            filters=kwargs["filters"],
        )
    )


@FUZZ
@given(
    scope=SCOPE,
    kind=st.one_of(ANY, st.sampled_from(["episode", "fact", "message", "raw"])),
    limit=ANY,
    offset=ANY,
    subject=ANY,
)
def test_fuzz_get_profile_stats(engine: EverMem, scope: dict[str, Any], **kwargs: Any) -> None:
    _outcome(lambda: engine.get(**scope, kind=kwargs["kind"], limit=kwargs["limit"], offset=kwargs["offset"]))
    _outcome(lambda: engine.get_profile(kwargs["subject"], **scope))
    _outcome(lambda: engine.stats(**scope))


@FUZZ
@given(memory_id=ANY, scope=SCOPE, details=ANY, document=st.one_of(ANY, st.dictionaries(st.text(max_size=8), ANY)))
def test_fuzz_delete_meta_import(engine: EverMem, memory_id: Any, scope: dict[str, Any], **kwargs: Any) -> None:
    if scope.get("user_id") == "canary" or (memory_id is None and not scope):
        return
    _outcome(lambda: engine.delete(memory_id, **scope))
    _outcome(lambda: engine.set_conversation_meta(**scope, user_details=kwargs["details"]))
    _outcome(lambda: engine.import_scope(kwargs["document"]))


def test_fuzz_outcomes_were_typed(engine: EverMem) -> None:
    # Runs after the fuzz tests of this module: at least 500 calls, none with a foreign error.
    assert sum(OUTCOMES.values()) >= 500, OUTCOMES
    print("fuzz outcomes:", dict(OUTCOMES))
