"""The offline extractor on what a user reported it got wrong: its facts, plans, profile, titles and scenes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.extraction import OfflineExtractor
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.text import split_sentences

SUNDAY = datetime(2025, 9, 28, 9, 0, tzinfo=UTC)  # a Sunday


def said(*lines: str, sender: str = "Ravi", start: datetime = SUNDAY, role: str = "user") -> list[Message]:
    return [
        Message(
            id=f"{sender}-{start:%m%d}-{i}",
            sender=sender,
            role=role,
            content=line,
            timestamp=start + timedelta(minutes=i),
        )  # type: ignore[arg-type]
        for i, line in enumerate(lines)
    ]


def extract(messages: list[Message]):  # type: ignore[no-untyped-def]
    return OfflineExtractor().extract(messages, list(dict.fromkeys(m.sender for m in messages)))


@pytest.fixture
def mem(tmp_path: Path) -> Iterator[EverMem]:
    with EverMem(path=tmp_path / "store") as memory:
        yield memory


# -- facts keep the speaker's words --------------------------------------------------------------
@pytest.mark.parametrize(
    "sentence",
    [
        "I'm so glad we two are aligned.",
        "Wonderful news for both of you!",
        "Maya, you love hiking, right? I love hiking too.",
        "Have you found a coffee place yet?",
        "When I look after myself, I'm able to better look after my family.",
        "I start a new job on Monday.",
    ],
)
def test_a_fact_is_the_sentence_as_said_named_by_its_speaker(sentence: str) -> None:
    (message,) = said(sentence)
    texts = [f.text for f in extract([message]).facts]
    unannotated = [re.sub(r" \([^()]*\d{4}\)", "", t) for t in texts]
    for part in split_sentences(sentence):
        if len(part.split()) > 2:
            assert f"Ravi: {part}" in unannotated, (part, texts)
    assert not any("Ravi is Ravi" in t or "Ravi love" in t or "Ravi start" in t for t in texts)


def test_relative_dates_are_annotated_inline_and_nothing_else_changes() -> None:
    (fact,) = extract(said("We went to the lake yesterday with my sister.")).facts
    assert fact.text == "Ravi: We went to the lake yesterday (27 September 2025) with my sister."


def test_a_date_already_given_in_brackets_is_not_annotated_twice() -> None:
    (echo,) = extract(said("You said: my dog turns three next month (October 2025).")).facts
    assert echo.text.count("(October 2025)") == 1
    (aside,) = extract(said("We fly tomorrow (if the strike ends).")).facts
    assert "tomorrow (29 September 2025) (if the strike ends)" in aside.text


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (
            "I booked an appointment with Dr. Alvarez for next Tuesday at 3pm. Can't wait!",
            "Dr. Alvarez for next Tuesday",
        ),
        ("My dentist appointment is on 14 June with Dr. Okafor.", "with Dr. Okafor"),
        ("It's about 3.5 km, e.g. a short walk from St. Mary's.", "3.5 km, e.g. a short walk from St. Mary's"),
        ("Meet at 7:30 a.m. at https://example.com/a.b?x=1 then.", "7:30 a.m. at https://example.com/a.b?x=1"),
    ],
)
def test_sentences_are_not_cut_after_abbreviations_decimals_times_or_urls(text: str, kept: str) -> None:
    assert any(kept in f.text for f in extract(said(text)).facts)


def test_chinese_sentences_are_split_at_chinese_punctuation() -> None:
    assert split_sentences("我明天去北京。你呢？好的！") == ["我明天去北京。", "你呢？", "好的！"]


# -- plans run until their event has passed ------------------------------------------------------
def plan_of(text: str, when: datetime = SUNDAY):  # type: ignore[no-untyped-def]
    plans = extract(said(text, start=when)).foresight
    assert len(plans) == 1, (text, plans)
    return plans[0]


def test_a_plan_for_tomorrow_ends_with_tomorrow() -> None:
    plan = plan_of("Race is tomorrow, so nervous!")
    assert plan.end is not None
    assert plan.start <= datetime(2025, 9, 29, 18, tzinfo=UTC) <= plan.end  # the race day
    assert plan.end < datetime(2025, 9, 30, tzinfo=UTC)


def test_a_dated_trip_is_valid_until_its_last_day() -> None:
    plan = plan_of("We're going to Kyoto from 5-19 April!", when=datetime(2026, 2, 1, tzinfo=UTC))
    assert plan.end is not None and plan.end.date() == datetime(2026, 4, 19).date()
    assert datetime(2026, 4, 19, 12, tzinfo=UTC) <= plan.end < datetime(2026, 4, 20, tzinfo=UTC)


def test_a_wedding_on_a_date_is_a_plan_until_that_day() -> None:
    plan = plan_of("My cousin's wedding is on 14 June and I'm a bridesmaid.", when=datetime(2026, 3, 2, tzinfo=UTC))
    assert plan.end is not None and plan.end.date() == datetime(2026, 6, 14).date()


def test_this_thursday_said_on_a_sunday_is_the_coming_thursday() -> None:
    plan = plan_of("I'm meeting the landlord this Thursday.")
    assert "2 October 2025" in plan.text
    assert plan.end is not None and plan.end.date() == datetime(2025, 10, 2).date()


def test_a_bare_weekday_in_the_past_tense_is_the_one_before() -> None:
    (fact,) = extract(said("They fixed the boiler on Tuesday.")).facts
    assert "23 September 2025" in fact.text


def test_a_recurring_lesson_is_kept_as_a_schedule() -> None:
    extraction = extract(said("I have Spanish lessons every Tuesday and Thursday."))
    (plan,) = extraction.foresight
    assert plan.end is None
    assert any(p.attribute == "schedule" for p in extraction.profile)


def test_someone_elses_routine_is_not_the_speakers_schedule() -> None:
    extraction = extract(said("Our neighbour Mr. Ortiz walks his dog twice a day."))
    assert not any(p.attribute == "schedule" for p in extraction.profile)


@pytest.mark.parametrize(
    "text",
    [
        "Great, Mochi will be in good hands.",
        "Will you be there tomorrow?",
        "Thanks, that sounds good!",
        "Sure, I'll think about it.",
    ],
)
def test_questions_and_acknowledgements_are_not_plans(text: str) -> None:
    assert extract(said(text)).foresight == []


def test_an_assistant_makes_no_plans_and_has_no_profile() -> None:
    extraction = extract(said("I'll remind you tomorrow; I live in the cloud.", sender="assistant", role="assistant"))
    assert extraction.foresight == [] and extraction.profile == []


# -- the profile keeps up ------------------------------------------------------------------------
WEEK = timedelta(days=7)
CHAT = [
    *said(
        "Hi! I live in Austin with my partner Dev, he's a nurse.",
        "I work as a QA engineer at Dell.",
        "My favourite tea is oolong.",
        "I'm allergic to peanuts, so careful with recipes.",
    ),
    *said(
        "My sister Leela is visiting next week.",
        "I'm learning Mandarin with my teacher, Mrs. Wang.",
        start=SUNDAY + WEEK,
    ),
    *said("I adopted a grey cat named Biscuit!", "I've gone vegetarian since last month.", start=SUNDAY + 2 * WEEK),
    *said("We finally moved to Seattle, the boxes are everywhere.", start=SUNDAY + 3 * WEEK),
    *said("I'm now an SDET at Amazon.", "我现在最喜欢喝龙井茶。", start=SUNDAY + 4 * WEEK),
]


def current(mem: EverMem, subject: str = "Ravi") -> dict[str, set[str]]:
    (profile,) = mem.get_profile(subject, user_id="ravi", current_time=SUNDAY + 5 * WEEK)
    values: dict[str, set[str]] = {}
    for item in profile.traits:
        values.setdefault(item.attribute, set()).add(item.value)
    return values


def test_the_profile_holds_what_was_said_and_later_values_supersede(mem: EverMem) -> None:
    mem.add(CHAT, user_id="ravi")
    mem.flush(user_id="ravi")
    profile = current(mem)
    assert profile["residence"] == {"Seattle"}
    assert profile["occupation"] == {"SDET"}
    assert profile["employer"] == {"Amazon"}
    assert profile["favorite tea"] == {"龙井茶"}
    assert profile["partner"] == {"Dev"}
    assert profile["sibling"] == {"sister Leela"}
    assert profile["pet"] == {"cat Biscuit"}
    assert profile["allergy"] == {"peanuts"}
    assert profile["diet"] == {"vegetarian"}
    assert profile["learning"] == {"Mandarin"}
    assert profile["teacher"] == {"Mrs. Wang"}
    (full,) = mem.get_profile("Ravi", user_id="ravi", include_history=True)
    old = {(i.attribute, i.value) for i in full.traits if i.status == "superseded"}
    assert {
        ("residence", "Austin"),
        ("occupation", "QA engineer"),
        ("employer", "Dell"),
        ("favorite tea", "oolong"),
    } <= old


def test_a_future_job_and_an_adopted_pet_reach_the_profile(mem: EverMem) -> None:
    mem.add(
        said("Next month I start a new job as a nurse in Porto.", "I adopted a grey cat named Biscuit"), user_id="ravi"
    )
    mem.flush(user_id="ravi")
    profile = current(mem)
    assert profile["occupation"] == {"nurse"} and profile["pet"] == {"cat Biscuit"}


def test_search_ranks_the_current_value_first_and_shows_the_old_one_as_history(mem: EverMem) -> None:
    mem.add(CHAT, user_id="ravi")
    mem.flush(user_id="ravi")
    result = mem.search("Where does Ravi live now?", user_id="ravi", current_time=SUNDAY + 5 * WEEK)
    places = [i for i in result.items if "Seattle" in i.text or "Austin" in i.text]
    assert "Seattle" in places[0].text
    assert "Austin" in result.context and "no longer true" in result.context.split("Austin", 1)[1].split("\n")[0]
    # the profile entry is found by the question's words ("live" for a residence)
    assert any(i.kind == "profile" and "residence: Seattle" in i.text for i in result.items)


def test_every_asked_change_ranks_the_current_value_first_with_the_old_one_after_it(mem: EverMem) -> None:
    mem.add(CHAT, user_id="ravi")
    mem.flush(user_id="ravi")
    moment = SUNDAY + 5 * WEEK
    for question, new, old in [
        ("Where does Ravi live now?", "Seattle", "Austin"),
        ("What is Ravi's job now?", "SDET", "QA engineer"),
        ("Which company does Ravi work for?", "Amazon", "Dell"),
        ("What is Ravi's favourite tea?", "龙井茶", "oolong"),
        ("Ravi现在最喜欢喝什么茶？", "龙井茶", "oolong"),
    ]:
        result = mem.search(question, user_id="ravi", current_time=moment, token_budget=400)
        assert new in result.items[0].text, (question, result.items[0].text)
        lines = result.context.splitlines()
        current_at = next(n for n, line in enumerate(lines) if new in line and line.startswith("- Ravi,"))
        history = lines[current_at + 1]
        assert old in history and "no longer true since" in history, (question, result.context)


def test_a_value_the_chat_confirms_holds_from_when_it_was_said(mem: EverMem) -> None:
    mem.set_conversation_meta(user_id="ravi", user_details={"Ravi": {"city": "Austin"}})
    mem.add(CHAT, user_id="ravi")
    mem.flush(user_id="ravi")
    (full,) = mem.get_profile("Ravi", user_id="ravi", include_history=True)
    (austin,) = [i for i in full.traits if i.value == "Austin"]
    assert austin.origin == "message" and austin.valid_from == SUNDAY
    context = mem.search("Where does Ravi live now?", user_id="ravi", current_time=SUNDAY + 5 * WEEK).context
    assert "residence: Austin (since 28 September 2025) (no longer true since 19 October 2025)" in context


def test_user_details_seed_the_profile_and_the_chat_supersedes_them(mem: EverMem) -> None:
    mem.set_conversation_meta(
        user_id="ravi", user_details={"Ravi": {"city": "Austin", "hobbies": ["chess", "running"]}}
    )
    seeded = current(mem)
    assert seeded["residence"] == {"Austin"} and seeded["hobby"] == {"chess", "running"}
    assert "Austin" in mem.search("Where does Ravi live?", user_id="ravi").context
    mem.add(said("We finally moved to Seattle!", start=datetime(2023, 1, 5, tzinfo=UTC)), user_id="ravi")
    mem.flush(user_id="ravi")
    assert current(mem)["residence"] == {"Seattle"}


def test_flat_user_details_name_the_user_and_nested_objects_are_no_people(mem: EverMem) -> None:
    mem.set_conversation_meta(
        user_id="ravi", user_details={"name": "Ravi", "city": "Pune", "address": {"street": "MG Road"}, "pets": []}
    )
    (profile,) = mem.get_profile(user_id="ravi")
    assert profile.subject == "Ravi"
    assert {(i.attribute, i.value) for i in profile.traits} == {("residence", "Pune")}


# -- narratives, titles and scenes a reader can use ----------------------------------------------
DENTIST = [
    (
        "I booked a dentist appointment with Dr. Okafor for next Tuesday, my molar hurts.",
        "Ouch, I hope Dr. Okafor can help.",
    ),
    ("The dentist said the molar needs a crown, Dr. Okafor will do it.", "A crown is a common fix."),
    ("Crown is done! Dr. Okafor was gentle, the dentist visit took an hour.", "Glad the crown went well."),
]
TRIP = [
    ("We booked flights to Kyoto for the temple trip in April.", "Kyoto in April is lovely, the cherry blossoms."),
    ("I found a ryokan in Kyoto for the trip, near the temples.", "A ryokan stay is a great idea."),
]


def test_scenes_group_a_topic_that_comes_back_weeks_apart(mem: EverMem) -> None:
    day = SUNDAY
    for index in range(3):
        for topic in (DENTIST, TRIP):
            if index < len(topic):
                user, bot = topic[index]
                mem.add(
                    said(user, start=day)
                    + said(bot, sender="assistant", role="assistant", start=day + timedelta(minutes=5)),
                    user_id="ravi",
                )
                mem.flush(user_id="ravi")
            day += timedelta(days=9)
    cells = mem.get(user_id="ravi", kind="episode", limit=100)
    scene_of: dict[str, set[str | None]] = {"dentist": set(), "trip": set()}
    for cell in cells:
        topic = "dentist" if "Okafor" in cell.episode or "crown" in cell.episode else "trip"
        scene_of[topic].add(cell.scene_id)
    assert len(scene_of["dentist"]) == 1 and len(scene_of["trip"]) == 1
    assert scene_of["dentist"] != scene_of["trip"]


def test_a_narrative_is_what_was_said_and_a_title_names_the_topic() -> None:
    messages = said(
        "Yesterday I went to an LGBTQ support group, it was so powerful.",
        "The support group made me feel accepted.",
        "Next week I'll go again with my friend Jo.",
        "Wow, that's great.",
        "ok",
        "I also want to paint this weekend.",
        "Week was long, probably going to sleep.",
    )
    extraction = extract(messages)
    assert "support group" in extraction.title
    for filler in ("week", "night", "probably", "went", "great"):
        assert filler not in extraction.title.split(", ")
    assert "Ravi: Yesterday (27 September 2025) I went to an LGBTQ support group" in extraction.episode
    assert "talked about went" not in extraction.episode
