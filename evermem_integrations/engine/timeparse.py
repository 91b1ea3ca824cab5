"""Timestamps in, absolute dates out.

Two jobs: accept the timestamp forms users have (ISO 8601, epoch seconds or milliseconds,
human dates such as "1:56 pm on 8 May, 2023"), and rewrite relative time expressions in
text ("yesterday", "last week", "two days ago") with the absolute date they mean at the
message's time. dateutil does the parsing and the calendar arithmetic; this module finds
the expressions with one regex and chooses how precise the rendered date is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

from dateutil import parser as dateutil_parser
from dateutil.relativedelta import relativedelta

from evermem_integrations.errors import InvalidTimestampError

_EPOCH_MS_THRESHOLD = 10**11  # numbers above this are milliseconds (year 5138 in seconds)


def parse_timestamp(value: object) -> datetime:
    """Parse a timestamp into a timezone-aware UTC datetime.

    Naive values are taken as UTC so that every stored time compares with every other.

    Raises:
        InvalidTimestampError: the value is in none of the accepted forms.

    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, bool) or value is None:
        raise InvalidTimestampError(
            f"timestamp {value!r} is not a time; give ISO 8601, epoch seconds/ms or a date like "
            "'1:56 pm on 8 May, 2023'"
        )
    elif isinstance(value, int | float):
        try:
            seconds = value / 1000 if abs(value) >= _EPOCH_MS_THRESHOLD else value
            moment = datetime.fromtimestamp(seconds, tz=UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise InvalidTimestampError(f"epoch timestamp {value!r} is out of range") from exc
    elif isinstance(value, str):
        moment = _parse_text_timestamp(value)
    else:
        raise InvalidTimestampError(
            f"timestamp of type {type(value).__name__} is not supported; give a datetime, "
            "ISO 8601 string, epoch seconds/ms or a human date"
        )
    try:
        return to_utc(moment)
    except OverflowError:  # 9999-12-31T23:00-05:00 is past the calendar's end in UTC
        raise InvalidTimestampError(f"timestamp {value!r} falls outside years 1-9999 in UTC") from None


def to_utc(moment: datetime) -> datetime:
    """Make ``moment`` timezone-aware in UTC (naive means UTC)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_text_timestamp(text: str) -> datetime:
    stripped = text.strip()
    if not stripped:
        raise InvalidTimestampError("timestamp is an empty string")
    if re.fullmatch(r"-?\d+(\.\d+)?", stripped):
        return parse_timestamp(float(stripped) if "." in stripped else int(stripped))
    try:
        return datetime.fromisoformat(stripped.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        # dateutil's fuzzy mode skips filler words ("on", "at"); it wants at least one digit
        # so that arbitrary prose is not read as "today".
        if not re.search(r"\d", stripped):
            raise ValueError(stripped)
        return dateutil_parser.parse(stripped, fuzzy=True)
    except (ValueError, OverflowError) as exc:
        raise InvalidTimestampError(
            f"cannot read timestamp {text!r}; give ISO 8601 ('2023-05-08T13:56:00Z'), epoch "
            "seconds/ms, or a date like '1:56 pm on 8 May, 2023'"
        ) from exc


@lru_cache(maxsize=8192)
def format_day(moment: datetime | date) -> str:
    """Render a day the way people (and LoCoMo answers) write it: '7 May 2023'."""
    return f"{moment.day} {moment.strftime('%B %Y')}"


_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_NUMBER = r"\d+|a\ couple\ of|a\ few|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_UNITS = "day|days|week|weeks|month|months|year|years|weekend|weekends"
_RELATIVE_RE = re.compile(
    rf"""\b(
        the\ day\ before\ yesterday | the\ day\ after\ tomorrow
      | yesterday | today | tonight | tomorrow | last\ night
      | (?:last|next|this|past|coming)\ (?:{_WEEKDAYS}|week|weekend|month|year|summer|winter|spring|fall|autumn)
      | (?:{_NUMBER})\ (?:{_UNITS})\ (?:ago|before|earlier|later|from\ now)
      | in\ (?:{_NUMBER})\ (?:{_UNITS})
    )\b""",
    re.IGNORECASE | re.VERBOSE,
)


@dataclass(frozen=True)
class TimeExpression:
    """A relative time expression found in text, with its absolute reading."""

    start: int
    end: int
    text: str
    resolved: str
    moment: datetime
    """The day the expression points at (the start of a week/month/year for coarse ones)."""
    future: bool


def shift(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the calendar's first or last instant instead of overflowing."""
    try:
        return moment + delta
    except OverflowError:
        edge = datetime.max if delta > timedelta(0) else datetime.min
        return edge.replace(tzinfo=moment.tzinfo)


def find_time_expressions(text: str, reference: datetime) -> list[TimeExpression]:
    """Find relative time expressions in ``text`` and resolve them against ``reference``.

    An expression that points outside the calendar (years 1 to 9999: "tomorrow" on 31 December
    9999, "5000 years ago") is left as written.
    """
    found = []
    for match in _RELATIVE_RE.finditer(text):
        try:
            resolved = _resolve(match.group(0).lower(), reference)
        except (OverflowError, ValueError):
            continue
        if resolved is not None:
            label, moment, future = resolved
            found.append(TimeExpression(match.start(), match.end(), match.group(0), label, moment, future))
    return found


def resolve_relative_dates(text: str, reference: datetime) -> tuple[str, list[TimeExpression]]:
    """Rewrite ``text`` so every relative expression carries its date.

    "I went there yesterday" at 8 May 2023 becomes "I went there yesterday (7 May 2023)".
    """
    expressions = find_time_expressions(text, reference)
    pieces, last = [], 0
    for expr in expressions:
        pieces.append(text[last : expr.end])
        pieces.append(f" ({expr.resolved})")
        last = expr.end
    pieces.append(text[last:])
    return "".join(pieces), expressions


def _resolve(expression: str, reference: datetime) -> tuple[str, datetime, bool] | None:
    ref_day = format_day(reference)
    words = expression.split()
    if expression in ("today", "tonight"):
        return ref_day, reference, False
    if expression in ("the day before yesterday", "the day after tomorrow"):
        when = reference + timedelta(days=-2 if "before" in expression else 2)
        return format_day(when), when, when > reference
    if expression == "last night":
        return format_day(reference - timedelta(days=1)), reference - timedelta(days=1), False
    last_word = words[-1]
    if words[0] in ("last", "past", "this", "next", "coming"):
        direction = {"last": -1, "past": -1, "this": 0, "next": 1, "coming": 1}[words[0]]
        if last_word == "week":
            when = reference + timedelta(weeks=direction)
            label = {-1: f"the week before {ref_day}", 0: f"the week of {ref_day}", 1: f"the week after {ref_day}"}
            return label[direction], when, direction > 0
        if last_word == "weekend":
            when = _weekend_near(reference, direction)
            label = {
                -1: f"the weekend before {ref_day}",
                0: f"the weekend of {format_day(when)}",
                1: f"the weekend after {ref_day}",
            }
            return label[direction], when, direction > 0
        if last_word == "month":
            when = reference + relativedelta(months=direction)
            return when.strftime("%B %Y"), when.replace(day=1), direction > 0
        if last_word == "year":
            when = reference + relativedelta(years=direction)
            return str(when.year), when.replace(month=1, day=1), direction > 0
        if last_word in _WEEKDAYS.split("|"):
            day = _parse_relative(expression if direction else f"this {last_word}", reference)
            if day is None:
                return None
            if direction < 0:
                return f"the {last_word.capitalize()} before {ref_day}, {format_day(day)}", day, False
            return format_day(day), day, day > reference
        # seasons: the season's year is enough
        year = reference.year + (1 if direction > 0 and reference.month > 6 else 0)
        year -= 1 if direction < 0 and reference.month < 6 else 0
        return f"{last_word} {year}", reference.replace(year=year), direction > 0
    found = _parse_relative(expression, reference)
    if found is None:
        return None
    when = found
    future = when > reference
    if last_word in ("ago", "before", "earlier") and any(unit in words for unit in ("year", "years")):
        return str(when.year), when, future
    if any(unit in words for unit in ("month", "months")):
        return when.strftime("%B %Y"), when, future
    if any(unit in words for unit in ("week", "weeks", "weekend", "weekends")) and last_word in ("ago", "before"):
        return f"{' '.join(words[:-1])} before {ref_day}, about {format_day(when)}", when, future
    return format_day(when), when, future


def _weekend_near(reference: datetime, direction: int) -> datetime:
    saturday = reference + timedelta(days=(5 - reference.weekday()) % 7)
    if direction < 0:
        saturday -= timedelta(weeks=1)
        if saturday >= reference:
            saturday -= timedelta(weeks=1)
    elif direction > 0 and (saturday - reference).days < 1:
        saturday += timedelta(weeks=1)
    return saturday


_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a few": 3,
}  # fmt: skip
_COUNT_RE = re.compile(
    rf"^(?:in )?({_NUMBER.replace(chr(92) + ' ', ' ')}) ({_UNITS})(?: (ago|before|earlier|later|from now))?$"
)


def _parse_relative(expression: str, reference: datetime) -> datetime | None:
    """Find the day a relative expression points at, by calendar arithmetic (dateutil)."""
    if expression in ("yesterday", "tomorrow"):
        return reference + timedelta(days=-1 if expression == "yesterday" else 1)
    words = expression.split()
    if len(words) == 2 and words[1] in _WEEKDAYS.split("|"):
        target = _WEEKDAYS.split("|").index(words[1])
        offset = (target - reference.weekday()) % 7
        if words[0] in ("last", "past"):
            return reference - timedelta(days=(reference.weekday() - target) % 7 or 7)
        if words[0] in ("next", "coming"):
            return reference + timedelta(days=offset or 7)
        return reference + timedelta(days=target - reference.weekday())
    match = _COUNT_RE.match(expression)
    if match is None:
        return None
    number, unit, direction = match.groups()
    count = int(number) if number.isdigit() else _NUMBER_WORDS[number]
    sign = -1 if direction in ("ago", "before", "earlier") else 1
    unit = unit.rstrip("s").replace("weekend", "week")
    return reference + relativedelta(**{f"{unit}s": sign * count})
