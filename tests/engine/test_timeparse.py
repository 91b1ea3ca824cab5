from datetime import UTC, datetime

import pytest

from evermem_integrations.engine.timeparse import parse_timestamp
from evermem_integrations.errors import InvalidTimestampError
from tests.engine.test_time_expressions import resolve_relative_dates

REF = datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        "1:56 pm on 8 May, 2023",
        "2023-05-08T13:56:00Z",
        "2023-05-08T15:56:00+02:00",
        1683554160,
        1683554160000,
        "1683554160",
        datetime(2023, 5, 8, 13, 56),
    ],
)
def test_accepted_timestamp_forms_agree(value: object) -> None:
    assert parse_timestamp(value) == REF


@pytest.mark.parametrize("value", ["", "hello there", None, True, [2023], "99 Foo 12345678"])
def test_bad_timestamps_raise_typed_error(value: object) -> None:
    with pytest.raises(InvalidTimestampError, match=r"ISO 8601|not a time|not supported|empty|cannot read"):
        parse_timestamp(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I went to a support group yesterday.", "yesterday (7 May 2023)"),
        ("I ran a race last Sunday.", "last Sunday (the Sunday before 8 May 2023, 7 May 2023)"),
        ("We go camping next month!", "next month (June 2023)"),
        ("I gave a talk last week.", "last week (the week before 8 May 2023)"),
        ("I painted that last year.", "last year (2022)"),
        ("We met two days ago.", "two days ago (6 May 2023)"),
        ("I read it 10 years ago.", "10 years ago (2013)"),
        ("The day before yesterday was fun.", "The day before yesterday (6 May 2023)"),
    ],
)
def test_relative_dates_get_their_absolute_date(text: str, expected: str) -> None:
    resolved, expressions = resolve_relative_dates(text, REF)
    assert expected in resolved
    assert len(expressions) == 1


def test_text_without_time_expressions_is_unchanged() -> None:
    text = "Painting helps me relax after work."
    assert resolve_relative_dates(text, REF) == (text, [])


def test_this_weekday_said_on_a_sunday_is_the_coming_one() -> None:
    """The reported bug: "This Thursday" on Sunday 7 May 2023 resolved to 4 May."""
    sunday = datetime(2023, 5, 7, 9, tzinfo=UTC)
    resolved, expressions = resolve_relative_dates("This Thursday we have the exam.", sunday)
    assert resolved == "This Thursday (11 May 2023) we have the exam."
    assert expressions[0].future
