"""The fidelity scorer's arithmetic on hand-built records (no engine involved)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from evermem_integrations.bench.fidelity import (
    normalise_attribute,
    score_foresight,
    score_profile,
    score_scenes,
    score_update,
    summarize_updates,
    value_matches,
    window_right,
)
from evermem_integrations.datasets.assistant_chat import PlanTruth, ProfileTruth, SupersededTruth
from evermem_integrations.engine.models import (
    Foresight,
    MemCell,
    MemScene,
    Message,
    ProfileItem,
    SearchItem,
    SearchResult,
)

T0 = datetime(2025, 10, 1, tzinfo=UTC)


def at(day: int, month: int = 10, hour: int = 0) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=UTC)


def item(attribute: str, value: str) -> ProfileItem:
    return ProfileItem(
        id=f"p-{attribute}-{value}",
        scope="s",
        subject="Jia",
        category="state",
        attribute=attribute,
        value=value,
        text=f"Jia {attribute}: {value}",
        valid_from=T0,
    )


def truth(attribute: str, value: str, *aliases: str) -> ProfileTruth:
    return ProfileTruth(attribute=attribute, value=value, aliases=list(aliases), message_ids=["m1"])


def test_attributes_and_values_are_compared_loosely() -> None:
    assert normalise_attribute("Favourite_Tea") == "favorite tea"
    assert normalise_attribute(" partner-occupation ") == "partner occupation"
    assert value_matches("Edinburgh, Scotland", ["Edinburgh"])  # the truth inside the entry
    assert value_matches("Pepper", ["cat Pepper"])  # the entry inside the truth
    assert value_matches("乌龙茶", ["oolong", "乌龙"])  # an alias
    assert not value_matches("Manchester", ["Edinburgh", "Leith"])
    assert not value_matches("  ", ["Edinburgh"])


def test_profile_right_wrong_missing_stale_extra() -> None:
    items = [
        item("residence", "Edinburgh, Scotland"),
        item("occupation", "data analyst"),
        item("favourite_tea", "乌龙茶"),
        item("favorite tea", "jasmine green tea"),
        item("age", "34"),
    ]
    expected = [
        truth("residence", "Edinburgh", "Leith"),
        truth("occupation", "product manager"),
        truth("favorite tea", "oolong", "乌龙茶"),
        truth("hobby", "bouldering"),
    ]
    changes = [
        SupersededTruth(attribute="residence", old="Manchester", new="Edinburgh", message_id="m2"),
        SupersededTruth(attribute="occupation", old="data analyst", new="product manager", message_id="m3"),
        SupersededTruth(
            attribute="favorite tea", old="jasmine green tea", old_aliases=["jasmine"], new="oolong", message_id="m4"
        ),
    ]
    score = score_profile(items, expected, changes)
    assert score.right == ["residence", "favorite tea"]
    assert score.wrong == ["occupation"]
    assert score.missing == ["hobby"]
    assert score.stale == ["occupation: data analyst", "favorite tea: jasmine green tea"]  # right or not
    assert score.extra == 1
    summary = score.summary()
    assert (summary["truth"], summary["right"], summary["wrong"], summary["missing"]) == (4, 2, 1, 1)
    assert summary["stale"] == 2 and summary["entries"] == 5
    assert summary["accuracy"] == pytest.approx(0.5)


def result(texts: list[str], context: str, sources: list[str] | None = None) -> SearchResult:
    items = [
        SearchItem(
            id=f"i{n}", kind="fact", text=t, score=1 / (n + 1), source_message_ids=[sources[n]] if sources else []
        )
        for n, t in enumerate(texts)
    ]
    return SearchResult(query="q", method="hybrid", items=items, context=context, context_tokens=10)


def test_update_ranks_and_history_marks() -> None:
    old_first = score_update(
        "Where does Jia live now?",
        result(
            ["Jia lives in Manchester", "Jia finally moved to Edinburgh", "Jia: I live in Manchester, Chorlton"],
            "Facts:\n- Jia lives in Manchester (no longer true since 1 November 2025)\n"
            "- Jia: I live in Manchester, Chorlton\n- Jia finally moved to Edinburgh\n",
            ["m1", "m9", "m2"],
        ),
        ["Edinburgh"],
        ["Manchester"],
        {"m1", "m2"},
    )
    assert (old_first.current_rank, old_first.old_rank, old_first.old_above) == (2, 1, True)
    assert old_first.old_marked is False  # the second statement of Manchester is not marked
    marked = score_update(
        "q",
        result(
            ["Jia moved to Edinburgh", "Jia lived in Manchester", "the Manchester practice called"],
            "- Jia lived in Manchester (no longer true)\n- the Manchester practice called\n",
            ["m9", "m1", "m5"],
        ),
        ["Edinburgh"],
        ["Manchester"],
        {"m1"},
    )
    # a line that only mentions the old value ("the Manchester practice") states nothing that changed
    assert (marked.current_rank, marked.old_rank, marked.old_above, marked.old_marked) == (1, 2, False, True)
    absent = score_update("q", result(["Jia likes tea"], "- Jia likes tea\n"), ["Edinburgh"], ["Manchester"])
    assert (absent.current_rank, absent.old_rank, absent.old_above, absent.old_marked) == (None, None, False, None)
    only_old = score_update("q", result(["Jia lives in Manchester"], ""), ["Edinburgh"], ["Manchester"], {"m1"})
    assert only_old.old_above is True and only_old.old_marked is None
    summary = summarize_updates([old_first, marked, absent, only_old])
    assert summary["questions"] == 4
    assert summary["current_found"] == 2 and summary["current_top1"] == 1
    assert summary["mean_reciprocal_rank"] == pytest.approx((1 / 2 + 1) / 4)
    assert summary["old_above_current"] == 2
    assert summary["old_in_context"] == 2 and summary["old_marked_as_history"] == 1


def test_a_superseded_profile_entry_is_judged_as_a_statement_of_the_old_value() -> None:
    history = SearchItem(id="p1", kind="profile", text="Jia, residence: Manchester", score=0.5)
    current = SearchItem(id="p2", kind="profile", text="Jia, residence: Edinburgh", score=1.0)
    unmarked = SearchResult(
        query="q",
        method="hybrid",
        items=[current, history],
        context="Profile:\n- Jia, residence: Edinburgh\n- Jia, residence: Manchester\n",
        context_tokens=10,
    )
    assert score_update("q", unmarked, ["Edinburgh"], ["Manchester"]).old_marked is False


def foresight(text: str, start: datetime, end: datetime | None, *sources: str) -> Foresight:
    return Foresight(
        id=text, cell_id="c", subject="Jia", text=text, start=start, end=end, source_message_ids=list(sources)
    )


def plan(keyword: str, message: str, start: date, end: date | None, recurring: bool = False) -> PlanTruth:
    return PlanTruth(keyword=keyword, message_id=message, start=start, end=end, recurring=recurring)


def test_foresight_windows() -> None:
    dentist = plan("dentist", "m1", date(2025, 10, 9), date(2025, 10, 14))
    assert window_right(foresight("Dentist", at(9), at(14, hour=23)), dentist)
    assert window_right(foresight("Dentist", at(9), at(13)), dentist)  # the day before: within a day
    assert window_right(foresight("Dentist", at(9), at(15, hour=11)), dentist)  # over before noon of the day after
    assert not window_right(foresight("Dentist", at(9), at(15, hour=12)), dentist)  # still valid at noon
    assert not window_right(foresight("Dentist", at(9), at(12, hour=23)), dentist)  # two days early
    assert not window_right(foresight("Dentist", at(9), None), dentist)
    lessons = plan("Spanish", "m5", date(2025, 10, 6), None, recurring=True)
    assert window_right(foresight("Spanish lessons", at(6), None), lessons)
    assert not window_right(foresight("Spanish lessons", at(6), at(6, 11)), lessons)


def test_foresight_right_wrong_missing_and_non_plans() -> None:
    plans = [
        plan("dentist", "m1", date(2025, 10, 9), date(2025, 10, 14)),
        plan("10K", "m2", date(2025, 10, 11), date(2025, 10, 12)),
        plan("Spanish", "m3", date(2025, 10, 6), None, recurring=True),
        plan("Valencia", "m4", date(2025, 10, 19), date(2025, 12, 19)),
        plan("wedding", "m6", date(2025, 11, 10), date(2026, 5, 2)),
    ]
    stored = [
        foresight("Dentist next Tuesday", at(9), at(14, hour=23), "m1"),
        foresight("Salford 10k tomorrow", at(11), at(13, hour=12), "m2"),  # still valid at noon on the 13th
        foresight("Spanish every Tuesday", at(6), None, "m3"),
        # the wedding: the one citing the plan's message decides, though another has the right window
        foresight("Lan's wedding", at(10, 11), at(2, 11), "m6"),
        foresight("wedding in May", at(10, 11), datetime(2026, 5, 2, 20, tzinfo=UTC), "m7"),
        foresight("Thanks!", at(12), at(13), "m9"),
    ]
    score = score_foresight(stored, plans, ["m9", "m8"])
    assert score.right == ["dentist", "Spanish"]
    assert score.wrong == ["10K", "wedding"]
    assert score.missing == ["Valencia"]
    assert score.non_plans == ["m9"]
    summary = score.summary(2)
    assert (summary["plans"], summary["right"], summary["wrong"], summary["missing"]) == (5, 2, 2, 1)
    assert (summary["not_plans"], summary["non_plans_as_foresight"], summary["foresight"]) == (2, 1, 6)


def cell(cell_id: str, message_ids: list[str], scene: str | None = None) -> MemCell:
    messages = [Message(id=i, sender="Jia", content=i, timestamp=T0) for i in message_ids]
    return MemCell(
        id=cell_id,
        scope="s",
        title=cell_id,
        episode=cell_id,
        start_time=T0,
        end_time=T0,
        messages=messages,
        scene_id=scene,
    )


def scene(scene_id: str, cell_ids: list[str]) -> MemScene:
    return MemScene(id=scene_id, scope="s", title=scene_id, cell_ids=cell_ids, start_time=T0, end_time=T0)


def test_scene_purity_and_scenes_per_topic() -> None:
    topics = {"a1": "dentist", "a2": "dentist", "a3": "trip", "b1": "dentist", "t1": "trip", "t2": "trip"}
    topics |= {"t3": "trip", "x1": "pet", "x2": "pet"}
    cells = [
        cell("c1", ["a1", "a2", "a3"]),  # dentist
        cell("c2", ["b1"]),  # dentist
        cell("c3", ["t1", "t2"]),  # trip, in the dentist scene
        cell("c4", ["t3", "x1"], scene="S2"),  # a tie: trip, seen first (its scene from the cell itself)
        cell("c5", ["x2"]),  # pet, in no scene
        cell("c6", ["unknown"]),  # no topic: not labelled
    ]
    scenes = [scene("S1", ["c1", "c2", "c3"])]
    scored = score_scenes(cells, scenes, topics, ["dentist", "trip", "pet"])
    assert scored["memcells"] == 6
    assert scored["labelled"] == 5
    assert scored["unassigned"] == 1
    assert scored["scenes"] == 2
    assert scored["purity"] == pytest.approx(3 / 4)  # c1, c2 (dentist scene) and c4; not c3
    # dentist: both in S1 (2); trip: c3 in S1, c4 in S2 (1 of 2 together): 3 of 4 placed
    assert scored["completeness"] == pytest.approx(3 / 4)
    assert scored["recurring_topics"] == {
        "dentist": {"memcells": 2, "scenes": 1},
        "trip": {"memcells": 2, "scenes": 2},
        "pet": {"memcells": 1, "scenes": 0},
    }


def test_no_scenes_means_no_purity() -> None:
    scored = score_scenes([cell("c1", ["a1"])], [], {"a1": "dentist"}, ["dentist"])
    assert scored["purity"] is None and scored["unassigned"] == 1 and scored["completeness"] is None


def test_a_scene_for_every_memcell_is_pure_but_not_complete() -> None:
    topics = {"a1": "dentist", "a2": "dentist"}
    cells = [cell("c1", ["a1"], scene="S1"), cell("c2", ["a2"], scene="S2")]
    scored = score_scenes(cells, [], topics, ["dentist"])
    assert scored["purity"] == 1.0 and scored["completeness"] == pytest.approx(1 / 2)
