"""Relative and absolute time expressions in chat text: weekdays, dates, holidays, Chinese, habits."""

from __future__ import annotations

import random
import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evermem_integrations.engine import timeparse
from evermem_integrations.engine.timeparse import (
    TimeExpression,
    date_notes,
    find_time_expressions,
    sentence_tense,
    with_notes,
)

WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
# Sunday 7 May 2023 .. Saturday 13 May 2023, noon
REFERENCES = [datetime(2023, 5, 7, 12, tzinfo=UTC) + timedelta(days=i) for i in range(7)]


def resolve_relative_dates(text: str, reference: datetime) -> tuple[str, list[TimeExpression]]:
    """``text`` with its dates written in, as a message's units carry them, and the expressions found."""
    notes, expressions = date_notes(text, reference)
    return with_notes(text, notes), expressions


def only(text: str, reference: datetime) -> TimeExpression:
    found = find_time_expressions(text, reference)
    assert len(found) == 1, (text, found)
    return found[0]


def day_of(expr: TimeExpression) -> date:
    return expr.moment.date()


def _ahead(ref: date, target: int, *, today_counts: bool) -> date:
    days = (target - ref.weekday()) % 7
    return ref + timedelta(days=days if days or today_counts else 7)


def _behind(ref: date, target: int, *, today_counts: bool) -> date:
    days = (ref.weekday() - target) % 7
    return ref - timedelta(days=days if days or today_counts else 7)


WEEKDAY_FORMS = [
    # (sentence with {d}, expected day as a function of reference day and target weekday)
    ("We will meet this {d}.", lambda r, t: _ahead(r, t, today_counts=True)),
    ("This {d} we are going to the lake.", lambda r, t: _ahead(r, t, today_counts=True)),
    ("We met this {d}.", lambda r, t: _behind(r, t, today_counts=True)),
    ("We will meet next {d}.", lambda r, t: _ahead(r, t, today_counts=False)),
    ("See you this coming {d}!", lambda r, t: _ahead(r, t, today_counts=False)),
    ("We met last {d}.", lambda r, t: _behind(r, t, today_counts=False)),
    ("I ran into him this past {d}.", lambda r, t: _behind(r, t, today_counts=False)),
    ("They filled it on {d}.", lambda r, t: _behind(r, t, today_counts=False)),
    ("I went to the market {d}.", lambda r, t: _behind(r, t, today_counts=False)),
    ("I'm seeing her on {d}", lambda r, t: _ahead(r, t, today_counts=False)),
    ("I will call you on {d}.", lambda r, t: _ahead(r, t, today_counts=False)),
    # no past-tense cue: the coming one (an ambiguous present is usually about what is next)
    ("The shop is open on {d}.", lambda r, t: _ahead(r, t, today_counts=False)),
]


@pytest.mark.parametrize("reference", REFERENCES, ids=lambda r: r.strftime("%a"))
@pytest.mark.parametrize("form", WEEKDAY_FORMS, ids=lambda f: f[0])
def test_weekday_forms_on_every_reference_weekday(reference: datetime, form: tuple) -> None:
    sentence, expected = form
    for target, name in enumerate(WEEKDAYS):
        expr = only(sentence.format(d=name), reference)
        assert day_of(expr) == expected(reference.date(), target), (sentence.format(d=name), reference.date())
        assert expr.precision == "day" and not expr.recurring
        assert expr.future == (expr.moment > reference)


def test_reported_this_thursday_on_a_sunday_is_the_coming_one() -> None:
    sunday = datetime(2023, 5, 7, 9, tzinfo=UTC)
    text, _ = resolve_relative_dates("This Thursday we have the exam.", sunday)
    assert text == "This Thursday (11 May 2023) we have the exam."


def test_bare_weekdays_are_annotated() -> None:
    tuesday = datetime(2023, 5, 9, 9, tzinfo=UTC)
    assert resolve_relative_dates("They filled it on Tuesday.", tuesday)[0] == (
        "They filled it on Tuesday (2 May 2023)."
    )
    assert resolve_relative_dates("I'm seeing her on Friday", tuesday)[0] == "I'm seeing her on Friday (12 May 2023)"


@pytest.mark.parametrize(
    ("text", "reference", "first", "last"),
    [
        ("We booked a trip 5-19 April.", date(2023, 3, 1), date(2023, 4, 5), date(2023, 4, 19)),
        ("We are going to Rome from 5 to 19 April.", date(2023, 3, 1), date(2023, 4, 5), date(2023, 4, 19)),
        ("I'll be away April 5-19.", date(2023, 3, 1), date(2023, 4, 5), date(2023, 4, 19)),
        ("We were in Rome April 5th to 19th.", date(2023, 3, 1), date(2022, 4, 5), date(2022, 4, 19)),
        ("The trip is 5 April - 2 May.", date(2023, 4, 10), date(2023, 4, 5), date(2023, 5, 2)),
        ("We'll ski 28 December to 3 January.", date(2023, 11, 1), date(2023, 12, 28), date(2024, 1, 3)),
        ("I'm off between 10 and 12 July 2024.", date(2023, 11, 1), date(2024, 7, 10), date(2024, 7, 12)),
        ("我们5月5日到19日去旅行。", date(2023, 3, 1), date(2023, 5, 5), date(2023, 5, 19)),
    ],
)
def test_date_ranges_have_a_start_and_an_end(text: str, reference: date, first: date, last: date) -> None:
    expr = only(text, datetime.combine(reference, time(12), tzinfo=UTC))
    assert expr.precision == "range"
    assert expr.moment == datetime.combine(first, time.min, tzinfo=UTC)
    assert expr.until == datetime.combine(last, time.max, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("The wedding is on 14 June.", date(2023, 5, 8), date(2023, 6, 14)),
        ("The wedding will be on 14 June.", date(2023, 7, 1), date(2024, 6, 14)),
        ("The wedding was on 14 June.", date(2023, 5, 8), date(2022, 6, 14)),
        ("The wedding was on 14 June.", date(2023, 6, 14), date(2023, 6, 14)),
        ("Her birthday is June 14th.", date(2023, 12, 1), date(2023, 6, 14)),
        ("We fly out on 5 January.", date(2023, 12, 20), date(2024, 1, 5)),
        ("We are flying out on 5 January.", date(2023, 12, 20), date(2024, 1, 5)),
        ("We got back on 20 December.", date(2024, 1, 5), date(2023, 12, 20)),
        ("Let's meet on the 21st.", date(2023, 5, 8), date(2023, 5, 21)),
        ("I paid it on the 21st.", date(2023, 5, 8), date(2023, 4, 21)),
        ("I will pay on the 5th.", date(2023, 5, 8), date(2023, 6, 5)),
        ("It was the 4th of July.", date(2023, 8, 1), date(2023, 7, 4)),
        ("We moved to Denver 14 January 2025.", date(2023, 5, 8), date(2025, 1, 14)),
        ("我6月14日要去北京。", date(2023, 7, 1), date(2024, 6, 14)),
        ("我6月14号去了北京。", date(2023, 7, 1), date(2023, 6, 14)),
        ("我们21号见。", date(2023, 5, 8), date(2023, 5, 21)),
        ("2023年6月14日", date(2020, 1, 1), date(2023, 6, 14)),
    ],
)
def test_dates_without_a_year_get_their_year_from_the_tense(text: str, reference: date, expected: date) -> None:
    expr = only(text, datetime.combine(reference, time(12), tzinfo=UTC))
    assert day_of(expr) == expected
    assert expr.precision == "day"
    assert expr.until == datetime.combine(expected, time.max, tzinfo=UTC)


def test_stated_dates_are_annotated_only_when_the_year_is_missing() -> None:
    ref = datetime(2025, 5, 8, 12, tzinfo=UTC)
    text, found = resolve_relative_dates("The wedding is on 14 June.", ref)
    assert text == "The wedding is on 14 June (14 June 2025)."
    assert found[0].absolute and found[0].future
    text, found = resolve_relative_dates("We moved on 14 January 2025.", ref)
    assert text == "We moved on 14 January 2025."
    assert found[0].absolute and not found[0].future and day_of(found[0]) == date(2025, 1, 14)
    text, found = resolve_relative_dates("Our trip 5-19 April was great.", ref)
    assert text == "Our trip 5-19 April (5-19 April 2025) was great."


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("We'll have Thanksgiving at my mom's.", date(2023, 5, 8), date(2023, 11, 23)),
        ("Thanksgiving was lovely.", date(2023, 5, 8), date(2022, 11, 24)),
        ("What are you doing for Christmas?", date(2023, 12, 20), date(2023, 12, 25)),
        ("We had a party on New Year's Eve.", date(2024, 1, 3), date(2023, 12, 31)),
        ("I'm dressing up for Halloween.", date(2023, 10, 1), date(2023, 10, 31)),
        ("I'll buy flowers for Valentine's Day.", date(2023, 12, 1), date(2024, 2, 14)),
        ("Last Christmas I gave you my heart.", date(2023, 12, 20), date(2022, 12, 25)),
        ("We'll spend Christmas 2025 in Oslo.", date(2023, 12, 20), date(2025, 12, 25)),
        ("圣诞节我们要去滑雪。", date(2023, 12, 20), date(2023, 12, 25)),
    ],
)
def test_holidays_resolve_to_their_date(text: str, reference: date, expected: date) -> None:
    expr = only(text, datetime.combine(reference, time(12), tzinfo=UTC))
    assert day_of(expr) == expected and expr.precision == "day"


def test_thanksgiving_is_the_fourth_thursday_of_november() -> None:
    for year, day in [(2022, 24), (2023, 23), (2024, 28), (2025, 27), (2026, 26)]:
        expr = only("We will celebrate Thanksgiving.", datetime(year, 1, 2, tzinfo=UTC))
        assert day_of(expr) == date(year, 11, day)


# Monday 8 May 2023
ZH_REF = datetime(2023, 5, 8, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "first", "last", "precision"),
    [
        ("我今天很累。", date(2023, 5, 8), None, "day"),
        ("明天见！", date(2023, 5, 9), None, "day"),
        ("我们后天出发。", date(2023, 5, 10), None, "day"),
        ("大后天考试。", date(2023, 5, 11), None, "day"),
        ("我昨天去了公园。", date(2023, 5, 7), None, "day"),
        ("前天下雨了。", date(2023, 5, 6), None, "day"),
        ("今晚吃火锅。", date(2023, 5, 8), None, "day"),
        ("下周三开会。", date(2023, 5, 17), None, "day"),
        ("下星期三开会。", date(2023, 5, 17), None, "day"),
        ("下礼拜三开会。", date(2023, 5, 17), None, "day"),
        ("上周五我们吃了饭。", date(2023, 5, 5), None, "day"),
        ("这周六去爬山。", date(2023, 5, 13), None, "day"),
        ("本周六去爬山。", date(2023, 5, 13), None, "day"),
        ("周六我们去了爬山。", date(2023, 5, 6), None, "day"),
        ("周六我要去爬山。", date(2023, 5, 13), None, "day"),
        ("我打算星期天去看电影。", date(2023, 5, 14), None, "day"),
        ("下周我很忙。", date(2023, 5, 15), date(2023, 5, 21), "week"),
        ("上周我很忙。", date(2023, 5, 1), date(2023, 5, 7), "week"),
        ("下个月搬家。", date(2023, 6, 1), date(2023, 6, 30), "month"),
        ("上个月搬家了。", date(2023, 4, 1), date(2023, 4, 30), "month"),
        ("这个月很忙。", date(2023, 5, 1), date(2023, 5, 31), "month"),
        ("明年我要去日本。", date(2024, 1, 1), date(2024, 12, 31), "year"),
        ("去年我去了日本。", date(2022, 1, 1), date(2022, 12, 31), "year"),
        ("今年很顺利。", date(2023, 1, 1), date(2023, 12, 31), "year"),
        ("三天前我感冒了。", date(2023, 5, 5), None, "day"),
        ("两周后我回来。", date(2023, 5, 22), None, "day"),
        ("3个月后毕业。", date(2023, 8, 1), date(2023, 8, 31), "month"),
        ("十天后出发。", date(2023, 5, 18), None, "day"),
        ("这周末去露营。", date(2023, 5, 13), date(2023, 5, 14), "weekend"),
        ("5月20日要去上海。", date(2023, 5, 20), None, "day"),
        ("我十二月三号要去上海。", date(2023, 12, 3), None, "day"),
    ],
)
def test_chinese_relative_dates(text: str, first: date, last: date | None, precision: str) -> None:
    expr = only(text, ZH_REF)
    assert expr.precision == precision
    assert expr.moment == datetime.combine(first, time.min, tzinfo=UTC)
    assert expr.until == datetime.combine(last or first, time.max, tzinfo=UTC)
    assert not expr.recurring


@pytest.mark.parametrize(
    ("text", "weekdays"),
    [
        ("I swim every Tuesday.", (1,)),
        ("I swim every Tuesday and Thursday.", (1, 3)),
        ("I swim every Monday, Wednesday and Friday.", (0, 2, 4)),
        ("I swim on Tuesdays.", (1,)),
        ("I swim on Tuesdays and Thursdays.", (1, 3)),
        ("We hike every weekend.", (5, 6)),
        ("I run every morning.", ()),
        ("We meet weekly.", ()),
        ("I go to the gym twice a week.", ()),
        ("I call my mom every day.", ()),
        ("我每周二和周四游泳。", (1, 3)),
        ("我每天跑步。", ()),
        ("每个周末我们都去爬山。", (5, 6)),
    ],
)
def test_recurring_expressions_are_marked_not_dated(text: str, weekdays: tuple[int, ...]) -> None:
    expr = only(text, ZH_REF)
    assert expr.recurring and expr.precision == "recurring"
    assert expr.weekdays == weekdays
    assert expr.until == expr.moment and not expr.future
    assert resolve_relative_dates(text, ZH_REF)[0] == text  # no date is written for a habit


@pytest.mark.parametrize(
    ("text", "first", "last", "precision"),
    [
        ("I'll do it tomorrow.", date(2023, 5, 9), date(2023, 5, 9), "day"),
        ("We leave next week.", date(2023, 5, 15), date(2023, 5, 21), "week"),
        ("I was busy last week.", date(2023, 5, 1), date(2023, 5, 7), "week"),
        ("We go camping next month!", date(2023, 6, 1), date(2023, 6, 30), "month"),
        ("We go camping this weekend!", date(2023, 5, 13), date(2023, 5, 14), "weekend"),
        ("We went camping last weekend.", date(2023, 5, 6), date(2023, 5, 7), "weekend"),
        ("I painted that last year.", date(2022, 1, 1), date(2022, 12, 31), "year"),
        ("We travel next summer.", date(2023, 6, 1), date(2023, 8, 31), "season"),
        ("We skied last winter.", date(2022, 12, 1), date(2023, 2, 28), "season"),
        ("I'm moving in August.", date(2023, 8, 1), date(2023, 8, 31), "month"),
        ("I lived there until March.", date(2023, 3, 1), date(2023, 3, 31), "month"),
        ("We'll trip 5-19 April.", date(2024, 4, 5), date(2024, 4, 19), "range"),
    ],
)
def test_until_is_the_last_instant_covered(text: str, first: date, last: date, precision: str) -> None:
    expr = only(text, ZH_REF)
    assert expr.precision == precision
    assert expr.moment == datetime.combine(first, time.min, tzinfo=UTC)
    assert expr.until == datetime.combine(last, time.max, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "I may go to the party.",
        "March on, soldiers!",
        "Wait a second.",
        "Sun is out today!".replace(" today", ""),
        "She was the 4th of my friends to marry.",
        "We live on the 2nd floor.",
        "The 21st century is strange.",
        "I bought a Christmas tree.",
        "May I ask you something?",
        "Jan said hi.",
        "然后天气就变好了。",
        "这是3号线。",
        "Painting helps me relax after work.",
    ],
)
def test_no_false_positives_on_ordinary_words(text: str) -> None:
    assert find_time_expressions(text, ZH_REF) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I went to the park.", "past"),
        ("They filled it in.", "past"),
        ("I will go to the park.", "future"),
        ("We're going to Paris.", "future"),
        ("I'm planning a trip.", "future"),
        ("I'm seeing her on Friday", "future"),
        ("I like green tea.", "present"),
        ("I'm so excited about it.", "present"),
        ("我去了公园。", "past"),
        ("我要去公园。", "future"),
        ("我喜欢绿茶。", "present"),
    ],
)
def test_sentence_tense(text: str, expected: str) -> None:
    assert sentence_tense(text) == expected


@pytest.mark.parametrize(
    "reference", [datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, tzinfo=UTC)], ids=["year1", "year9999"]
)
def test_expressions_past_the_calendar_are_skipped(reference: datetime) -> None:
    text = "On 5 January or 20 December, next Friday, last Monday, at Christmas, 下周三, 去年, 明年 and the 21st."
    for expr in find_time_expressions(text, reference):
        assert 1 <= expr.moment.year <= 9999 and expr.moment <= expr.until


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                *"0123456789 -–/,.年月日号周天前后下上这个每",
                *(" May", " on", " the", "st", "th", " April", " Friday", " next", " last", " every", " and"),
                *(" to", " Christmas", " will", " went", " weekend"),
            ]
        ),
        max_size=40,
    ).map("".join),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31), timezones=st.just(UTC)),
)
def test_random_text_never_raises(text: str, reference: datetime) -> None:
    annotated, found = resolve_relative_dates(text, reference)
    for expr in found:
        assert text[expr.start : expr.end] == expr.text
        assert expr.moment <= expr.until
    assert len(annotated) >= len(text)


def test_a_bare_weekday_in_the_present_is_the_coming_one() -> None:
    monday = datetime(2023, 5, 8, 9, tzinfo=UTC)
    for text in ("I have a meeting on Friday.", "The dentist is on Friday."):
        assert resolve_relative_dates(text, monday)[0] == text.replace("Friday", "Friday (12 May 2023)")


def test_may_the_verb_after_this_is_no_month() -> None:
    text = "This may be hard."
    assert resolve_relative_dates(text, datetime(2023, 5, 8, tzinfo=UTC)) == (text, [])


SAID = [
    "three weeks ago", "the day before yesterday", "several times a week", "every other Monday and Thursday",
    "between the 3rd and the 5th of May, 2023", "on the 21st at noon", "in early September", "this coming weekend",
    "last Christmas Eve", "a couple of days earlier", "Monday, Wednesday and Friday", "2023-04-17", "5-19 April",
    "until the 3rd of June", "next month", "mother's day", "twice a month", "上个月", "每周三和周五", "三天前",
    "2023年5月3日", "over the weekend", "tonight", "on Tuesdays", "in two years",
]  # fmt: skip
FILLER = (
    "The assistant explained the recipe in detail, listing flour sugar butter and eggs, then described how the "
    "dough should rest before baking; it also suggested variations with cinnamon, cardamom or orange zest."
).split()


def test_scanning_around_trigger_words_finds_what_scanning_the_whole_text_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Long turns are scanned only near their triggers; the expressions found must not change."""
    rng = random.Random(7)
    texts = []
    for _ in range(300):
        parts: list[str] = []
        for _ in range(rng.randint(1, 6)):
            parts += rng.choices(FILLER, k=rng.choice([0, 1, 3, 12, 40, 90]))
            parts.append(rng.choice(SAID) + rng.choice(["", ",", ".", "!", " and", "\n\n"]))
        texts.append(" ".join(parts))
    reference = datetime(2023, 5, 8, 15, 0, tzinfo=UTC)
    windowed = [find_time_expressions(text, reference) for text in texts]
    monkeypatch.setattr(timeparse, "_trigger_windows", lambda text: [(0, len(text))])
    whole = [find_time_expressions(text, reference) for text in texts]
    assert windowed == whole
    assert sum(map(len, whole)) > 600


EVERY_FORM = [
    *SAID, "Mondays and Fridays", "each single day", "every 3 weeks", "on weekends", "Biweekly", "thrice a year",
    "many times a week", "2 times per day", "the day after tomorrow", "Last night", "this Evening", "May 5",
    "Sept. 3rd", "Jan 5 - Feb 2, 2024", "Friday, June 2", "June 2024", "by the 3rd", "since March, 2022", "next July",
    "coming Easter Sunday", "Valentines day", "valentine's", "Father’s Day", "St. Patrick's day", "saint patrick's day",
    "the fourth of July", "New Year's Eve", "new year", "labour day", "Labor Day", "Memorial Day", "boxing day",
    "Independence Day", "Halloween", "thanksgiving", "xmas", "this past Sunday", "past Tuesday", "this coming month",
    "last summer", "next fall", "during the weekend", "at the weekend", "for the weekend", "one year later",
    "a few weeks from now", "twelve months ago", "eleven days before", "in a couple of weeks", "in 3 days", "Thursday",
    "1st of May", "the 2nd to the 4th of June", "5 to 9 May", "12 Jan 2023", "2020-02-29", "每天", "下周一", "今年",
    "明天", "5月3日到5日", "3号", "周末", "上个礼拜", "去年", "两周后",
]  # fmt: skip


def test_the_first_word_filter_finds_what_trying_every_form_everywhere_finds(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The regex tries its English forms only where one of their first words begins; nothing is lost."""
    rng = random.Random(11)
    texts = [*EVERY_FORM, *(f"{f.upper()} and {f.title()}" for f in EVERY_FORM)]
    for _ in range(300):
        parts: list[str] = []
        for _ in range(rng.randint(1, 6)):
            parts += rng.choices(FILLER, k=rng.choice([0, 1, 3, 12]))
            parts.append(rng.choice(EVERY_FORM) + rng.choice(["", ",", ".", "!", " and", "\n\n"]))
        texts.append(" ".join(parts))
    reference = datetime(2023, 5, 8, 15, 0, tzinfo=UTC)
    filtered = [find_time_expressions(text, reference) for text in texts]
    everywhere = re.compile(
        rf"\b(?:{timeparse._ENGLISH})|(?=[{timeparse._CHINESE_FIRST}])(?:{timeparse._CHINESE})", re.I | re.X
    )
    monkeypatch.setattr(timeparse, "_EXPRESSION_RE", everywhere)
    unfiltered = [find_time_expressions(text, reference) for text in texts]
    assert filtered == unfiltered
    assert all(unfiltered[: len(EVERY_FORM)])  # each sample is an expression
