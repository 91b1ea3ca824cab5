"""The three phases on small hand-written conversations, and the store's guarantees."""

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evermem_integrations import (
    EverMem,
    InvalidFilterError,
    LLMUnavailableError,
    NotFoundError,
    ScopeError,
    StoreVersionError,
)
from tests.engine.write_path_support import vector_ids

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)


def chat(*lines: tuple[str, str], start: datetime = T0, prefix: str = "m") -> list[dict]:
    return [
        {"id": f"{prefix}{i}", "sender": sender, "content": text, "timestamp": start + timedelta(minutes=i)}
        for i, (sender, text) in enumerate(lines)
    ]


BOSTON = chat(
    ("Ana", "I live in Boston with my partner and our dog Pixel."),
    ("Bot", "Boston is lovely in winter. What do you do there?"),
    ("Ana", "I work as a nurse at the children's hospital."),
    ("Ana", "Tomorrow I'm going to run a half marathon along the river."),
)
DENVER = chat(
    ("Ana", "Big news: we just moved to Denver last week!"),
    ("Bot", "Congratulations on the move to Denver."),
    ("Ana", "I'm so tired from unpacking boxes all day."),
    start=T0 + timedelta(days=150),
    prefix="d",
)


def test_buffered_messages_are_searchable_before_flush(mem: EverMem) -> None:
    mem.add(BOSTON[:1], user_id="ana")
    result = mem.search("Where does Ana live?", user_id="ana")
    assert [i.kind for i in result.items] == ["raw"]
    assert "Boston" in result.context
    assert result.items[0].source_message_ids == ["m0"]


def test_flush_forms_a_memcell_with_facts_foresight_and_metadata(mem: EverMem) -> None:
    mem.add(BOSTON, user_id="ana")
    (cell,) = mem.flush(user_id="ana")
    assert cell.participants == ["Ana", "Bot"]
    assert cell.source_message_ids == ["m0", "m1", "m2", "m3"]
    assert (cell.start_time, cell.end_time) == (T0, T0 + timedelta(minutes=3))
    assert cell.scene_id is not None
    texts = [f.text for f in cell.facts]
    # each fact is a sentence as its speaker said it, named by the speaker
    assert "Ana: I live in Boston with my partner and our dog Pixel." in texts
    assert "Ana: I work as a nurse at the children's hospital." in texts
    # relative dates carry their absolute date; plans become foresight with a validity window
    plan = next(f for f in cell.foresight if "half marathon" in f.text)
    assert "Tomorrow (11 January 2024)" in plan.text
    assert plan.start == T0 + timedelta(minutes=3)
    assert plan.end is not None and plan.end > plan.start
    assert "Ana: I live in Boston" in cell.episode
    assert mem.stats(user_id="ana").buffered == 0
    # every fact is supported by its source message and invents nothing beyond names/dates
    by_id = {m["id"]: m["content"] for m in BOSTON}
    for fact in cell.facts:
        (source,) = fact.source_message_ids
        assert "Pixel" not in fact.text or "Pixel" in by_id[source]


def test_later_statement_supersedes_earlier_fact_and_profile(mem: EverMem) -> None:
    mem.add(BOSTON, user_id="ana")
    mem.flush(user_id="ana")
    mem.add(DENVER, user_id="ana")
    mem.flush(user_id="ana")
    facts = {f.text: f for f in mem.get(user_id="ana", kind="fact", limit=100)}
    boston = next(f for t, f in facts.items() if "Boston" in t and "live" in t)
    denver = next(f for t, f in facts.items() if "moved to Denver" in t)
    assert boston.superseded_by == denver.id
    assert boston.valid_until == denver.timestamp
    assert denver.superseded_by is None
    result = mem.search("Where does Ana live?", user_id="ana", current_time=T0 + timedelta(days=151))
    ranked = [i.text for i in result.items]
    denver_rank = next(n for n, t in enumerate(ranked) if "Denver" in t)
    boston_rank = next(n for n, t in enumerate(ranked) if "Boston" in t and "live" in t)
    assert denver_rank < boston_rank
    assert "no longer true since" in result.context
    (profile,) = mem.get_profile("Ana", user_id="ana", current_time=T0 + timedelta(days=151))
    residence = [t.value for t in profile.traits if t.attribute == "residence"]
    assert residence == ["Denver"]
    history = mem.get_profile("Ana", user_id="ana", include_history=True)[0]
    assert {t.value: t.status for t in history.traits if t.attribute == "residence"} == {
        "Boston": "superseded",
        "Denver": "current",
    }


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def either_store(request: pytest.FixtureRequest) -> Iterator[EverMem]:
    """An engine on the embedded store, or on the server pair (PostgreSQL and a Chroma server)."""
    if request.param == "sqlite":
        engine = EverMem(path=None)
    else:
        urls = request.getfixturevalue("database_url"), request.getfixturevalue("chroma_url")
        engine = EverMem(path=None, database_url=urls[0], chroma_url=urls[1], collection_name="supersession")
    yield engine
    engine.close()


def test_a_superseded_fact_keeps_its_scene_and_its_unit_holds_only_what_the_unit_lacks(either_store: EverMem) -> None:
    mem = either_store
    mem.add(BOSTON, user_id="ana")
    (boston_cell,) = mem.flush(user_id="ana")
    mem.add(DENVER, user_id="ana")
    mem.flush(user_id="ana")
    boston = next(f for f in mem.get(user_id="ana", kind="fact", limit=100) if "live in Boston" in f.text)
    assert boston.superseded_by is not None
    unit = mem.records.units("user=ana", [boston.id])[boston.id]
    # supersession patches the unit's record, it does not replace it with the fact's
    assert unit.data["scene_id"] == boston_cell.scene_id
    assert unit.data["superseded_by"] == boston.superseded_by
    # the unit holds its own id, text, cell and time: its record does not repeat them
    assert not {"id", "text", "cell_id", "timestamp"} & unit.data.keys()
    result = mem.search("Ana Boston partner dog Pixel", user_id="ana", kinds=["fact"])
    item = next(i for i in result.items if i.id == boston.id)
    assert item.scene_id == boston_cell.scene_id
    assert item.metadata["superseded_by"] == boston.superseded_by


def test_a_memcell_holds_its_messages_by_reference(either_store: EverMem) -> None:
    """A message is stored once: the MemCell's record names it, and reads give it back whole and in order."""
    mem = either_store
    mem.add(BOSTON, user_id="ana")
    (cell,) = mem.flush(user_id="ana")
    (stored,) = mem.records.cells("user=ana")
    assert stored.messages == cell.messages and [m.id for m in stored.messages] == ["m0", "m1", "m2", "m3"]
    ((data,),) = mem.records._rows("SELECT data FROM cells")  # type: ignore[attr-defined]
    assert json.loads(data).get("messages", []) == []


def test_add_memcells_takes_the_write_path_of_flush(mem: EverMem) -> None:
    mem.add(BOSTON, user_id="ana")
    boston = mem.flush(user_id="ana")
    mem.add(DENVER, user_id="ana")
    denver = mem.flush(user_id="ana")
    with EverMem(path=None) as bulk:
        bulk.add_memcells([c.model_copy(update={"scene_id": None}) for c in boston], user_id="ana")
        bulk.add_memcells(denver, user_id="ana")
        # the same MemCells, scenes, facts (supersession included) and messages as the pipeline stored
        for kind in ("episode", "scene", "fact", "foresight", "message"):
            assert bulk.get(user_id="ana", kind=kind, limit=100) == mem.get(user_id="ana", kind=kind, limit=100)
        assert bulk.stats(user_id="ana").buffered == 0
        assert bulk.get(user_id="ana", kind="profile") == []  # the profile is left as it is
        result = bulk.search("Where does Ana live?", user_id="ana", current_time=T0 + timedelta(days=151))
        assert "Denver" in result.context and "no longer true since" in result.context
        with pytest.raises(ScopeError):
            bulk.add_memcells(boston, user_id="bob")


def test_temporary_states_expire_and_stay_apart_from_traits(mem: EverMem) -> None:
    mem.add(DENVER, user_id="ana")
    mem.flush(user_id="ana")
    soon = mem.get_profile("Ana", user_id="ana", current_time=T0 + timedelta(days=151))[0]
    assert [s.value for s in soon.states] == ["tired"]
    assert all(t.category == "trait" for t in soon.traits)
    later = mem.get_profile("Ana", user_id="ana", current_time=T0 + timedelta(days=190))[0]
    assert later.states == []


def test_foresight_is_filtered_by_validity(mem: EverMem) -> None:
    mem.add(BOSTON, user_id="ana")
    mem.flush(user_id="ana")
    query = "half marathon plans"
    during = mem.search(query, user_id="ana", kinds=["foresight"], current_time=T0 + timedelta(days=1))
    after = mem.search(query, user_id="ana", kinds=["foresight"], current_time=T0 + timedelta(days=365))
    assert [i.kind for i in during.items] == ["foresight"]
    assert after.items == []


@pytest.mark.parametrize("flushed", [False, True], ids=["buffered", "memcell"])
def test_an_answer_is_found_by_the_question_it_answers(mem: EverMem, flushed: bool) -> None:
    mem.add(
        chat(
            ("Maria", "Your family looks so fit! How often do you work out together?"),
            ("John", "Three times a week; it keeps us on track."),
            ("Maria", "I volunteer at the shelter on Sundays."),
        ),
        group_id="g",
    )
    if flushed:
        mem.flush(group_id="g")
    result = mem.search("workout frequency together", group_id="g", method="keyword")
    answer = next(i for i in result.items if i.source_message_ids == ["m1"])
    # indexed with the question, shown without it
    assert answer.text == "John: Three times a week; it keeps us on track."
    assert answer.kind in (("fact", "message") if flushed else ("raw",))


def test_excluded_messages_leave_their_budget_to_other_memories(mem: EverMem) -> None:
    mem.add(BOSTON, user_id="ana")
    mem.flush(user_id="ana")
    mem.add(DENVER, user_id="ana")
    window = {"d0", "d1", "d2"}  # the chat window the prompt already shows
    result = mem.search("Where does Ana live?", user_id="ana", exclude_message_ids=window, token_budget=200)
    assert result.items
    assert not any(set(i.source_message_ids) <= window for i in result.items)
    assert "Denver" not in result.context and "Boston" in result.context
    assert 0 < result.context_tokens <= 200


def test_kind_subsets_span_episodes_and_items(mem: EverMem) -> None:
    mem.add(BOSTON, user_id="ana")
    mem.flush(user_id="ana")
    for method in ("keyword", "vector"):
        both = mem.search("Boston nurse", user_id="ana", kinds=["episode", "fact"], method=method).items
        assert {i.kind for i in both} == {"episode", "fact"}, method
        only = mem.search("Boston nurse", user_id="ana", kinds=["episode"], method=method).items
        assert only and {i.kind for i in only} == {"episode"}, method


def test_scopes_are_hard_partitions(mem: EverMem) -> None:
    mem.add(BOSTON, user_id="ana")
    mem.add(chat(("Bo", "I live in Oslo and I work as a pilot.")), user_id="bo")
    mem.flush(user_id="ana")
    for method in ("keyword", "vector", "hybrid", "scene"):
        result = mem.search("Where does someone live and work?", user_id="bo", method=method)
        assert result.items and all("Oslo" in i.text or "pilot" in i.text for i in result.items), method
        assert "Boston" not in result.context
    combined = mem.search("Boston", user_id="ana", group_id="g1")
    assert combined.items == []


def test_token_budget_is_respected_and_context_is_in_time_order(locomo_mem: EverMem) -> None:
    for budget in (120, 500, 2000):
        result = locomo_mem.search("What did Melanie paint?", group_id="conv-26", token_budget=budget)
        assert 0 < result.context_tokens <= budget
    result = locomo_mem.search("What did Melanie paint?", group_id="conv-26", token_budget=1500)
    days = [line for line in result.context.splitlines() if line.startswith("[")]
    parsed = [datetime.strptime(d.strip("[]"), "%d %B %Y") for d in days]
    assert parsed == sorted(parsed)
    assert all(item.source_message_ids for item in result.items)


def test_get_filters_and_paging(mem: EverMem) -> None:
    mem.add(BOSTON + DENVER, user_id="ana")
    mem.flush(user_id="ana")
    cells = mem.get(user_id="ana", kind="episode")
    assert len(cells) == 2
    assert mem.get(user_id="ana", kind="episode", filters={"after": T0 + timedelta(days=100)}) == cells[1:]
    assert mem.get(user_id="ana", kind="episode", limit=1, offset=1) == cells[1:]
    facts = mem.get(user_id="ana", kind="fact", filters={"subject": "Bot"}, limit=100)
    assert facts and all(f.subject == "Bot" for f in facts)
    scenes = mem.get(user_id="ana", kind="scene")
    assert {c for s in scenes for c in s.cell_ids} == {c.id for c in cells}
    # Any other field is message metadata: none of these messages has a colour.
    assert mem.get(user_id="ana", kind="fact", filters={"colour": "red"}) == []
    with pytest.raises(InvalidFilterError, match="letters, digits"):
        mem.get(user_id="ana", kind="fact", filters={"colour?": "red"})
    with pytest.raises(InvalidFilterError, match="after"):
        mem.search("x", user_id="ana", filters={"after": "someday"})


def test_delete_cascades_without_residue(tmp_path: Path) -> None:
    mem = EverMem(path=tmp_path)
    mem.add(BOSTON, user_id="ana")
    mem.flush(user_id="ana")
    mem.add(DENVER[:1], user_id="ana")  # one message left in the buffer
    mem.add(chat(("Bo", "I live in Oslo.")), user_id="bo")
    mem.set_conversation_meta(user_id="ana", scene="assistant", tags=["vip"])
    assert mem.delete(user_id="ana") == 1
    assert mem.stats(user_id="ana").model_dump() == dict.fromkeys(mem.stats(user_id="ana").model_dump(), 0)
    assert mem.records.count("units", "scope-does-not-matter") == 0
    assert mem.records.count("units", "user=ana") == mem.records.count("subjects", "user=ana") == 0
    assert vector_ids(mem, "user=ana") == set()
    assert vector_ids(mem, "user=bo")
    assert mem.records.meta("user=ana") is None
    assert mem.search("Boston", user_id="ana").items == []
    assert mem.search("Oslo", user_id="bo").items  # the other tenant is untouched
    mem.close()


def test_delete_one_memcell_and_one_fact(mem: EverMem) -> None:
    added = mem.add(BOSTON + DENVER, user_id="ana")  # the 150-day gap closes the first episode at once
    (tail,) = mem.flush(user_id="ana")
    first, second = mem.get(user_id="ana", kind="episode")
    assert added.memcells == [first.id] and tail.id == second.id
    fact = second.facts[0]
    mem.delete(fact.id)
    assert fact.id not in {f.id for f in mem.get(user_id="ana", kind="fact", limit=100)}
    mem.delete(first.id)
    assert [c.id for c in mem.get(user_id="ana", kind="episode")] == [second.id]
    assert "Boston" not in mem.search("Boston nurse", user_id="ana").context
    with pytest.raises(NotFoundError):
        mem.delete(first.id)
    with pytest.raises(ScopeError):
        mem.delete()


def test_persistence_round_trip(tmp_path: Path) -> None:
    with EverMem(path=tmp_path) as mem:
        mem.add(BOSTON, user_id="ana")
        mem.flush(user_id="ana")
        mem.add(DENVER[:2], user_id="ana")  # stays buffered across the restart
        before = mem.search("Where does Ana live and work?", user_id="ana")
        stats = mem.stats(user_id="ana")
    with EverMem(path=tmp_path) as reopened:
        after = reopened.search("Where does Ana live and work?", user_id="ana")
        assert reopened.stats(user_id="ana") == stats
        assert [(i.id, i.text) for i in after.items] == [(i.id, i.text) for i in before.items]
        assert after.context == before.context
        reopened.add(DENVER[2:], user_id="ana")  # the buffer resumes where it was
        (cell,) = reopened.flush(user_id="ana")
        assert cell.source_message_ids == ["d0", "d1", "d2"]


def test_a_store_of_another_layout_is_refused_untouched(tmp_path: Path) -> None:
    old = tmp_path / "evermem.sqlite3"
    with sqlite3.connect(old) as conn:  # a store from before layout versions: user_version 0
        conn.execute("CREATE TABLE units (id TEXT PRIMARY KEY, data TEXT)")
        conn.execute("INSERT INTO units VALUES ('u1', '{}')")
    with pytest.raises(StoreVersionError, match="evermem export"):
        EverMem(path=tmp_path)
    with sqlite3.connect(old) as conn:
        assert conn.execute("SELECT id FROM units").fetchall() == [("u1",)]
        assert conn.execute("PRAGMA user_version").fetchone() == (0,)


def test_agentic_search_needs_an_llm(mem: EverMem) -> None:
    mem.add(BOSTON, user_id="ana")
    with pytest.raises(LLMUnavailableError, match="needs an LLM"):
        mem.search("Where?", user_id="ana", method="agentic")


async def test_async_twins(mem: EverMem) -> None:
    result = await mem.aadd(BOSTON, user_id="ana")
    assert result.added == 4
    cells = await mem.aflush(user_id="ana")
    found = await mem.asearch("nurse", user_id="ana")
    assert "nurse" in found.context
    assert await mem.aget(user_id="ana", kind="episode") == cells
    assert await mem.adelete(user_id="ana") == 1


def test_conversation_meta_round_trip(mem: EverMem) -> None:
    mem.set_conversation_meta(group_id="g1", scene="group_chat", user_details={"u1": {"name": "Ana"}}, tags=["team"])
    meta = mem.get_conversation_meta(group_id="g1")
    assert (meta.scene, meta.tags) == ("group_chat", ["team"])
    with pytest.raises(InvalidFilterError, match="scene"):
        mem.set_conversation_meta(group_id="g1", scene="party")  # type: ignore[arg-type]


def test_chinese_text_is_searchable(mem: EverMem) -> None:
    mem.add(
        chat(("李雷", "我上周去了北京参加一个人工智能会议。"), ("韩梅梅", "听起来很有意思！")),
        group_id="zh",
    )
    mem.flush(group_id="zh")
    result = mem.search("北京 会议", group_id="zh", method="keyword")
    assert result.items and "北京" in result.items[0].text
