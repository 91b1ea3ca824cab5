"""Timestamps in, absolute dates out.

Two jobs: accept the timestamp forms users have (ISO 8601, epoch seconds or milliseconds,
human dates such as "1:56 pm on 8 May, 2023"), and rewrite relative time expressions in
text ("yesterday", "last week", "two days ago") with the absolute date they mean at the
message's time, and find stated dates ("5-19 April", "14 June", "Christmas", "下周三") and
habits ("every Tuesday") too. dateutil does the parsing and the calendar arithmetic; one
precompiled regex finds every expression, and the sentence's tense decides which way an
undated weekday or a date without a year points.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal, NamedTuple

from dateutil import parser as dateutil_parser
from dateutil.easter import easter
from dateutil.relativedelta import MO, SU, TH, relativedelta

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


def shift(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the calendar's first or last instant instead of overflowing."""
    try:
        return moment + delta
    except OverflowError:
        edge = datetime.max if delta > timedelta(0) else datetime.min
        return edge.replace(tzinfo=moment.tzinfo)


Precision = Literal["day", "week", "weekend", "month", "season", "year", "range", "recurring"]
Tense = Literal["past", "future", "present"]
# How a date without a year (or a bare weekday) is placed around the message's day:
# future/past include that day, after/before exclude it, nearest takes the closer one.
_Mode = Literal["future", "past", "after", "before", "nearest"]
_Span = tuple[date, date]


@dataclass(frozen=True)
class TimeExpression:
    """A time expression found in text, with its absolute reading.

    ``moment`` and ``until`` are the first and last instants covered, in the reference's
    time zone; for a recurring expression both are the start of the reference day.
    """

    start: int
    end: int
    text: str
    resolved: str
    moment: datetime
    future: bool
    """The expression starts after the reference."""
    until: datetime
    precision: Precision
    recurring: bool = False
    weekdays: tuple[int, ...] = ()
    """Named weekdays, Monday=0 (Saturday and Sunday for weekends); empty when none given."""
    absolute: bool = False
    """The text states the date itself (a day and month, or a month), not relative to the message."""
    annotate: bool = True
    """A message's units carry ``resolved`` after it (:func:`date_notes`): not for habits, nor for stated dates."""


# -- tense ----------------------------------------------------------------------------------
_EN_FUTURE_RE = re.compile(
    r"""\b(?:will|won['’]t|shall|gonna|wanna|going\ to|about\ to|plan(?:s|ned|ning)?|intend(?:s|ed)?\ to
    |hop(?:e|es|ing)\ to|wants?\ to|would\ like\ to|can['’]t\ wait|cannot\ wait|look(?:s|ing)?\ forward
    |let['’]s|let\ us|ha(?:ve|s)\ to|need\ to|must|might|upcoming|soon|tomorrow|tonight|next(?!\s+to\b)
    |book(?:ed|ing)?|reserv(?:e|ed|ation)|schedul(?:e|ed)|tickets?|appointment|see\ (?:you|ya)|catch\ you
    |are\ you\ free|(?:shall|should|can|could)\ we)\b|\w['’]ll\b""",
    re.IGNORECASE | re.VERBOSE,
)
_EN_PROGRESSIVE_RE = re.compile(
    r"""\b(?:am|is|are|i['’]m|im|we['’]re|you['’]re|they['’]re|he['’]s|she['’]s|it['’]s
    |(?:am|are|is)\s+(?:i|you|we|they|he|she))\s+(?:(?:not|also|still|really|just|finally|actually)\s+)?
    (?!(?:some|any|no|every)?thing\b|morning\b|evening\b|spring\b|during\b)[a-z]+ing\b""",
    re.IGNORECASE | re.VERBOSE,
)
# the present progressive is an arrangement ("I'm seeing her on Friday") when a day is named
_NAMED_DAY_RE = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|may|june"
    r"|july|august|september|october|november|december|tomorrow|tonight|weekend|christmas|thanksgiving"
    r"|halloween|easter|valentine|new year|\d{1,2}(?:st|nd|rd|th))\b",
    re.IGNORECASE,
)
_EN_PAST_RE = re.compile(
    r"""\b(?:was|were|wasn['’]t|weren['’]t|did|didn['’]t|had|hadn['’]t|used\ to|ago|yesterday|went|came|saw
    |got|took|made|met|ran|gave|told|said|bought|found|left|felt|thought|began|spent|ate|drank|wrote|won|lost
    |flew|drove|sat|slept|brought|caught|taught|sold|sent|built|paid|kept|heard|held|stood|wore|threw|knew
    |grew|became|broke|chose|forgot|fell|hid|hung|meant|rode|rang|sang|shook|spoke|stole|swam|tore|woke
    |fought|drew|forgave|lent)\b""",
    re.IGNORECASE | re.VERBOSE,
)
# "-ed" words are past unless they follow a linking word ("I'm excited", "so tired")
_EN_ED_RE = re.compile(
    r"\b(?:(am|is|are|be|been|being|get|gets|getting|feel|feels|feeling|so|very|really|too|pretty|quite"
    r"|super|more|most|not|i['’]m|we['’]re|you['’]re|they['’]re|he['’]s|she['’]s|it['’]s)\s+)?([a-z]{2,}ed)\b",
    re.IGNORECASE,
)
_NOT_PAST_ED = frozenset(
    "need feed seed speed bleed breed proceed exceed succeed indeed weed greed deed reed shed red bed wed embed"
    " hundred sacred naked wicked kindred".split()
)
_ZH_FUTURE_RE = re.compile(
    r"(?<![重主只需])要(?!是)|(?<![机聚社约宴体晚开学])会(?!议)|打算|准备|将(?!军)|想|计划|明天|明年|下次|预订|预定"
    r"|(?<![看遇听梦再])见(?=$|[!！。，,~～吧啦哦])"
)
_ZH_PAST_RE = re.compile(r"(?<![为除算太])了|(?<!不)过(?![来去年节夜敏])|已经|刚才|刚刚|昨天|昨晚|上次|曾经")
_CLAUSE_BREAK_RE = re.compile(
    r"[,;:!?，。；：！？…]|\s[-–—]\s|\b(?:but|and|or|so|because|although|though|while|whereas)\b", re.IGNORECASE
)


def sentence_tense(text: str) -> Tense:
    """Whether ``text`` speaks of the past, the future or neither (English and Chinese cues).

    Plan words beat past forms ("we booked a trip for 5 April" is a plan), so ``future``
    wins when both are present; the present progressive counts as future only when a day
    is named. Without cues it is ``present``.
    """
    if _EN_FUTURE_RE.search(text) or _ZH_FUTURE_RE.search(text):
        return "future"
    if _EN_PROGRESSIVE_RE.search(text) and _NAMED_DAY_RE.search(text):
        return "future"
    if _EN_PAST_RE.search(text) or _ZH_PAST_RE.search(text):
        return "past"
    for match in _EN_ED_RE.finditer(text):
        if match.group(1) is None and match.group(2).lower() not in _NOT_PAST_ED:
            return "past"
    return "present"


_TENSE_MODE: dict[Tense, _Mode] = {"future": "future", "past": "past", "present": "nearest"}


class _Context:
    """One call's text and reference; the tense of each clause is computed only when asked."""

    __slots__ = ("_breaks", "_tense", "day", "reference", "text")

    def __init__(self, text: str, reference: datetime) -> None:
        self.text = text
        self.reference = reference
        self.day = reference.date()
        self._breaks: list[int] | None = None
        self._tense: Tense | None = None

    def tense(self, start: int, end: int) -> Tense:
        """The tense of the clause around ``text[start:end]``, else of the whole text."""
        if self._breaks is None:
            self._breaks = [m.start() for m in _CLAUSE_BREAK_RE.finditer(self.text)]
        left = bisect.bisect_left(self._breaks, start)
        first = self._breaks[left - 1] if left else 0
        right = bisect.bisect_left(self._breaks, end)
        last = self._breaks[right] if right < len(self._breaks) else len(self.text)
        tense = sentence_tense(self.text[first:last])
        if tense == "present":
            if self._tense is None:
                self._tense = sentence_tense(self.text)
            tense = self._tense
        return tense

    def mode(self, match: re.Match[str]) -> _Mode:
        return _TENSE_MODE[self.tense(match.start(), match.end())]


# -- vocabulary -----------------------------------------------------------------------------
_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAY_INDEX = {name: i for i, name in enumerate(_WEEKDAY_NAMES)}
_ZH_WEEKDAY_INDEX = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_MONTH_INDEX = {
    "january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
    "september": 9, "october": 10, "november": 11, "december": 12, "jan": 1, "feb": 2, "mar": 3, "apr": 4,
    "jun": 6, "jul": 7, "aug": 8, "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_ZH_UNITS = {"天": "day", "日": "day", "周": "week", "星期": "week", "礼拜": "week", "月": "month", "年": "year"}
_SEASON_START = {"spring": 3, "summer": 6, "fall": 9, "autumn": 9, "winter": 12}
_NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "a couple of": 2, "a few": 3,
}  # fmt: skip
_ZH_DIGITS = {
    "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "几": 3,
}  # fmt: skip
_FIXED_DAYS = {
    "the day before yesterday": -2, "the day after tomorrow": 2, "yesterday": -1, "today": 0, "tonight": 0,
    "tomorrow": 1, "last night": -1, "this morning": 0, "this afternoon": 0, "this evening": 0,
    "大前天": -3, "前天": -2, "昨天": -1, "昨晚": -1, "昨日": -1, "今天": 0, "今晚": 0, "今早": 0, "今日": 0,
    "明天": 1, "明早": 1, "明晚": 1, "明日": 1, "后天": 2, "大后天": 3,
}  # fmt: skip
_DIRECTION = {
    "last": -1, "past": -1, "this past": -1, "this": 0, "next": 1, "coming": 1, "this coming": 1,
    "上上": -2, "上个": -1, "上": -1, "这个": 0, "这": 0, "本": 0, "下个": 1, "下": 1, "下下": 2,
}  # fmt: skip


def _nth_weekday(month: int, weekday: relativedelta) -> Callable[[int], date]:
    return lambda year: date(year, month, 1) + weekday


_HOLIDAYS: dict[str, Callable[[int], date]] = {
    "thanksgiving": _nth_weekday(11, relativedelta(weekday=TH(+4))),  # US: 4th Thursday of November
    "christmas eve": lambda y: date(y, 12, 24),
    "christmas": lambda y: date(y, 12, 25),
    "boxing day": lambda y: date(y, 12, 26),
    "new years eve": lambda y: date(y, 12, 31),
    "new year": lambda y: date(y, 1, 1),
    "halloween": lambda y: date(y, 10, 31),
    "valentines day": lambda y: date(y, 2, 14),
    "st patricks day": lambda y: date(y, 3, 17),
    "easter": easter,
    "mothers day": _nth_weekday(5, relativedelta(weekday=SU(+2))),  # US
    "fathers day": _nth_weekday(6, relativedelta(weekday=SU(+3))),  # US
    "memorial day": lambda y: date(y, 5, 31) + relativedelta(weekday=MO(-1)),
    "labor day": _nth_weekday(9, relativedelta(weekday=MO(+1))),
    "independence day": lambda y: date(y, 7, 4),
}
_HOLIDAY_ALIASES = {
    "thanksgiving day": "thanksgiving", "christmas day": "christmas", "xmas": "christmas",
    "new years": "new year", "new years day": "new year", "valentines": "valentines day",
    "saint patricks day": "st patricks day", "easter sunday": "easter", "labour day": "labor day",
    "fourth of july": "independence day", "the fourth of july": "independence day",
    "平安夜": "christmas eve", "圣诞节": "christmas", "圣诞": "christmas", "元旦": "new year",
    "情人节": "valentines day", "万圣节": "halloween", "感恩节": "thanksgiving",
}  # fmt: skip
_HOLIDAY_ALIASES.update({name: name for name in _HOLIDAYS})
_ZH_FIXED_HOLIDAYS = {"国庆节": (10, 1), "国庆": (10, 1), "劳动节": (5, 1), "儿童节": (6, 1)}


def _fixed_date(month: int, day: int) -> Callable[[int], date]:
    return lambda year: date(year, month, day)


for _name, (_month, _day) in _ZH_FIXED_HOLIDAYS.items():
    _HOLIDAYS[_name] = _fixed_date(_month, _day)
    _HOLIDAY_ALIASES[_name] = _name
_APOSTROPHES_RE = re.compile(r"['’.]")

_RECURRING_UNITS = {
    "day": "every day", "morning": "every morning", "afternoon": "every afternoon", "evening": "every evening",
    "night": "every night", "week": "every week", "weekend": "every weekend", "month": "every month",
    "year": "every year", "weekday": "every weekday", "weekends": "every weekend", "weekdays": "every weekday",
    "daily": "every day", "nightly": "every night", "weekly": "every week", "biweekly": "every two weeks",
    "fortnightly": "every two weeks", "monthly": "every month", "yearly": "every year", "annually": "every year",
    "天": "every day", "日": "every day", "晚": "every night", "早": "every morning", "早上": "every morning",
    "早晨": "every morning", "周末": "every weekend", "工作日": "every weekday", "周": "every week",
    "星期": "every week", "礼拜": "every week", "月": "every month", "年": "every year",
}  # fmt: skip
_UNIT_WEEKDAYS = {"weekend": (5, 6), "weekends": (5, 6), "周末": (5, 6), "weekday": (0, 1, 2, 3, 4),
                  "weekdays": (0, 1, 2, 3, 4), "工作日": (0, 1, 2, 3, 4)}  # fmt: skip

# -- the regex ------------------------------------------------------------------------------
_W = "|".join(_WEEKDAY_NAMES)
_MON_FULL = "january|february|march|april|may|june|july|august|september|october|november|december"
_MON = rf"(?:(?:{_MON_FULL})\b|(?:jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\b\.?)"
_DAY = r"(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th)?\b"
_TO = r"\s*(?:-|–|—|(?:to|until|till|through|thru)\b)\s*"
_LIST = r"(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|&)\s+)"
_NUMBER = r"\d+|a\ couple\ of|a\ few|a|an|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve"
_UNITS = "days|day|weeks|week|months|month|years|year|weekends|weekend"
_HOLIDAY_WORDS = (
    r"thanksgiving(?:\s+day)?|christmas\s+eve|christmas(?:\s+day)?|xmas|new\s+year['’]?s\s+eve"
    r"|new\s+year['’]?s(?:\s+day)?|new\s+year|halloween|valentine['’]?s(?:\s+day)?|easter(?:\s+sunday)?"
    r"|mother['’]?s\s+day|father['’]?s\s+day|memorial\s+day|labou?r\s+day|independence\s+day|boxing\s+day"
    r"|(?:st\.?|saint)\s+patrick['’]?s\s+day|(?:the\s+)?fourth\s+of\s+july"
)
_HOLIDAY_NOUNS = (
    r"tree|trees|card|cards|gifts?|presents?|music|songs?|carols?|movies?|films?|lights|decorations?|markets?"
    r"|sweaters?|jumpers?|cookies?|costumes?|candy|spirit|shopping|special|themed|stuff|lists?|wish|eggs?"
    r"|resolutions?"
)
_ZH_M = r"(?:1[0-2]|0?[1-9]|十[一二]?|[一二三四五六七八九])"
_ZH_D = r"(?:3[01]|[12]\d|0?[1-9]|三十一?|二十[一二三四五六七八九]?|十[一二三四五六七八九]?|[一二三四五六七八九])"
_ZH_TO = r"(?:到|至|-|–|~|～)"
_ZH_WD = "[一二三四五六日天]"
_ZH_YEAR = r"(?:(?P<{p}_y>\d{{4}})年|(?P<{p}_ry>今年|明年|去年))?"

_ENGLISH = rf"""
  (?P<rec>(?:every|each)\s+(?:other\s+|single\s+|second\s+)?(?P<rec_wl>(?:{_W})s?(?:{_LIST}(?:{_W})s?)*)\b
    | (?:on\s+)?(?P<rec_pl>(?:{_W})s(?:{_LIST}(?:{_W})s?)*)\b
    | (?:every|each)\s+(?:other\s+|single\s+)?(?P<rec_u>day|morning|afternoon|evening|night|weekend|weekday|week
        |month|year)\b
    | (?:every|each)\s+(?:\d+|two|three|four|five|six|few|couple\ of)\s+(?:days|weeks|months|years)\b
    | (?:on\s+)?(?P<rec_we>weekends|weekdays)\b
    | (?P<rec_ly>daily|weekly|biweekly|fortnightly|monthly|yearly|annually|nightly)\b
    | (?:once|twice|thrice|(?:\d+|two|three|four|five|six|seven|several|a\ few|many)\s+times)\s+
        (?:a|an|per|each|every)\s+(?:day|week|month|year|fortnight)\b)
| (?P<fixed>the\s+day\s+before\s+yesterday|the\s+day\s+after\s+tomorrow|yesterday|today|tonight|tomorrow
    |last\s+night|this\s+(?:morning|afternoon|evening))\b
| (?P<iso>(?P<iso_y>\d{{4}})-(?P<iso_m>0[1-9]|1[0-2])-(?P<iso_d>0[1-9]|[12]\d|3[01]))(?![\d:])
| (?P<dmb>between\s+(?:the\s+)?(?P<dmb_d1>{_DAY})\s+and\s+(?:the\s+)?(?P<dmb_d2>{_DAY})(?:\s+of)?\s+(?P<dmb_m>{_MON})
    (?:,?\s+(?P<dmb_y>\d{{4}})\b)?)
| (?P<dm>(?:(?:{_W}),?\s+)?(?<![\d:/.])(?P<dm_d1>{_DAY})
    (?:(?:\s+of)?\s+(?P<dm_m1>{_MON}){_TO}(?:the\s+)?(?P<dm_d2x>{_DAY})|{_TO}(?:the\s+)?(?P<dm_d2>{_DAY}))?
    (?:\s+of)?\s+(?P<dm_m2>{_MON})(?:,?\s+(?P<dm_y>\d{{4}})\b)?)
| (?P<md>(?:(?:{_W}),?\s+)?(?P<md_m1>{_MON})\s+(?:the\s+)?(?P<md_d1>{_DAY})(?![:.]\d)
    (?:{_TO}(?:(?P<md_m2>{_MON})\s+)?(?:the\s+)?(?P<md_d2>{_DAY}))?(?:,?\s+(?P<md_y>\d{{4}})\b)?)
| (?P<my>(?P<my_m>{_MON_FULL})\s+(?P<my_y>\d{{4}})\b)
| (?P<od>(?:on|by|until|till|before|after|from|since)\s+the\s+(?P<od_d>(?:[12]\d|3[01]|0?[1-9])(?:st|nd|rd|th))\b
    (?=\s*(?:$|[^\w\s]|(?:at|and|or|to|in|for|so|but|when|then|we|i|you|he|she|they|it|is|was|will|because|if
    |as|with|around|morning|afternoon|evening|night)\b)))
| (?P<mo>(?P<mo_p>in|since|until|till|by|during|through|throughout|from|before|after)\s+
    (?:(?:early|late|mid)[\s-]+)?(?P<mo_m>{_MON_FULL})\b(?!\s+{_DAY})(?:,?\s+(?P<mo_y>\d{{4}})\b)?)
| (?P<rm>(?P<rm_w>last|next|this|coming)\s+(?P<rm_m>{_MON_FULL})\b(?!\s+{_DAY}))
| (?P<hol>(?:(?P<hol_w>last|next|this|coming)\s+)?(?P<hol_n>{_HOLIDAY_WORDS})\b(?:,?\s+(?P<hol_y>\d{{4}})\b)?
    (?!\s+(?:{_HOLIDAY_NOUNS})\b))
| (?P<rwd>(?P<rwd_w>this\s+coming|this\s+past|last|next|this|past|coming)\s+(?P<rwd_d>{_W})\b)
| (?P<rper>(?P<rper_w>this\s+coming|this\s+past|last|next|this|past|coming)\s+
    (?P<rper_u>weekend|week|month|year|summer|winter|spring|fall|autumn)\b)
| (?P<twk>(?:on|over|at|for|during)\s+the\s+weekend\b)
| (?P<cnt>(?:{_NUMBER})\s+(?:{_UNITS})\s+(?:ago|before|earlier|later|from\s+now)|in\s+(?:{_NUMBER})\s+(?:{_UNITS}))\b
| (?P<bwd>(?P<bwd_d>{_W})\b)
"""
_CHINESE = rf"""
  (?P<zrec>每(?:个)?(?:周|星期|礼拜)(?P<zrec_w>{_ZH_WD}(?:(?:和|、|跟|与|及|或|,|，)(?:周|星期|礼拜)?{_ZH_WD})*)
    | 每(?:个)?(?P<zrec_u>天|日|晚|早上|早晨|早|周末|工作日|周|星期|礼拜|月|年))
| (?P<zhol>平安夜|圣诞节|圣诞|元旦|情人节|万圣节|感恩节|国庆节|国庆|劳动节|儿童节)
| (?P<zd>{_ZH_YEAR.format(p="zd")}(?<!\d)(?P<zd_m>{_ZH_M})月(?P<zd_d>{_ZH_D})(?:[日号]|(?={_ZH_TO}))
    (?:{_ZH_TO}(?:(?P<zd_m2>{_ZH_M})月)?(?P<zd_d2>{_ZH_D})[日号])?)
| (?P<zm>{_ZH_YEAR.format(p="zm")}(?<![\d个])(?P<zm_m>{_ZH_M})月(?P<zm_f>份)?(?![\d一二三四五六七八九十]))
| (?P<zo>(?<![\d一二三四五六七八九十月])(?P<zo_d>{_ZH_D})号(?![线楼房床门位机码店车院区]))
| (?P<zfix>大前天|大后天|(?<![之以然最落先向提])前天|(?<![之以然最落先今])后天|昨天|昨晚|昨日|今天|今晚|今早|今日
    |明天|明早|明晚|明日)
| (?P<zwd>(?<![一二两三四五六七八九十几\d每])(?P<zwd_p>下下|上上|下个|上个|这个|下|上|这|本)?(?:周|星期|礼拜)
    (?P<zwd_d>{_ZH_WD}))
| (?P<zwe>(?P<zwe_p>下个|上个|这个|下|上|这|本)?周末)
| (?P<zwk>(?P<zwk_p>下下|上上|下个|上个|这个|下|上|这|本)(?:周|星期|礼拜))
| (?P<zmo>下个月|下月|上个月|上月|这个月|本月)
| (?P<zyr>明年|去年|今年|前年|后年)
| (?P<zcnt>(?<!\d)(?P<zcnt_n>\d{{1,3}}|[一二两三四五六七八九十百几半]{{1,4}})
    (?P<zcnt_u>天|日|周|个星期|星期|个礼拜|礼拜|个月|年)(?P<zcnt_d>以前|以后|之前|之后|前|后))
"""
# Each Chinese form begins with one of these characters; the lookahead spares the regex from
# trying every Chinese alternative at every position of English text.
_CHINESE_FIRST = "每平圣元情万感国劳儿今明去大前后昨下上这本周星礼两几半十一二三四五六七八九0-9"
# Each English form begins with one of these words, a weekday or holiday name (which may go on:
# "Mondays", "mother's") or a digit; the lookahead spares the regex from trying every form at
# every word of a long turn (about half its cost).
_ENGLISH_FIRST_WORDS = frozenset(
    (
        *(word for word in _NUMBER_WORDS if " " not in word),
        *_MONTH_INDEX,
        *"""every each on once twice thrice several many the yesterday today tonight tomorrow last this next coming
    past between by until till before after from since in during through throughout over at for daily weekly
    biweekly fortnightly monthly yearly annually nightly weekends weekdays thanksgiving christmas xmas new
    halloween easter memorial labor labour independence boxing st saint fourth""".split(),
    )
)
_ENGLISH_FIRST = (
    rf"(?:{'|'.join(sorted(_ENGLISH_FIRST_WORDS, key=lambda w: (-len(w), w)))})\b|{_W}|valentine|mother|father|\d"
)
_EXPRESSION_RE = re.compile(
    rf"\b(?={_ENGLISH_FIRST})(?:{_ENGLISH})|(?=[{_CHINESE_FIRST}])(?:{_CHINESE})", re.IGNORECASE | re.VERBOSE
)
# Every English form contains one of these words; text with none of them, no digit and no
# Chinese trigger character skips the big regex (most chat sentences).
_TRIGGER_WORDS = frozenset(
    (
        *_WEEKDAY_NAMES,
        *(f"{name}s" for name in _WEEKDAY_NAMES),
        *_MONTH_INDEX,
        *"""yesterday today tonight tomorrow night morning afternoon evening day days week weeks weekend weekends
    weekday weekdays fortnight month months year years summer winter spring fall autumn thanksgiving christmas
    xmas halloween valentine valentines easter july daily weekly biweekly fortnightly monthly yearly annually
    nightly""".split(),
    )
)
_TOKEN_RE = re.compile(f"([a-z]+)|[{_CHINESE_FIRST}]", re.IGNORECASE)
"""A word (group 1: a trigger if it is one of :data:`_TRIGGER_WORDS`) or a trigger character."""
EXPRESSION_REACH = 48
"""Characters an expression spans from its nearest trigger, and more: "several times a week"
reaches 16 before "week", "until the 3rd of" 10 before "3"."""
_LEADING_PREP_RE = re.compile(
    r"(?:on|in|since|until|till|by|during|through|throughout|from|before|after|over|at|for)\s+", re.I
)
_STRIP_PREP = frozenset({"rec", "od", "mo", "twk"})


# -- calendar helpers -----------------------------------------------------------------------
def _day_span(day: date) -> _Span:
    return day, day


def _week_span(day: date, weeks: int = 0) -> _Span:
    monday = day - timedelta(days=day.weekday()) + timedelta(weeks=weeks)
    return monday, monday + timedelta(days=6)


def _month_span(year: int, month: int) -> _Span:
    first = date(year, month, 1)
    return first, first + relativedelta(months=1, days=-1)


def _pick(spans: Sequence[_Span], day: date, mode: _Mode) -> _Span | None:
    """The span (of ascending candidates) that ``mode`` chooses around ``day``."""
    if mode == "future":
        return next((s for s in spans if s[1] >= day), None)
    if mode == "past":
        return next((s for s in reversed(spans) if s[0] <= day), None)
    if mode == "after":
        return next((s for s in spans if s[0] > day), None)
    if mode == "before":
        return next((s for s in reversed(spans) if s[1] < day), None)
    if not spans:
        return None
    # nearest; a tie goes to the later one
    return min(spans, key=lambda s: (max(s[0] - day, day - s[1], timedelta(0)), -s[0].toordinal()))


def _yearly(day: date, make: Callable[[int], _Span], years: int = 1) -> list[_Span]:
    """``make(year)`` for the years around ``day``'s, skipping those outside the calendar."""
    spans = []
    for year in range(day.year - years, day.year + years + 1):
        try:
            spans.append(make(year))
        except (ValueError, OverflowError):
            continue
    return spans


def _weekday_spans(day: date, target: int, *, today: bool) -> list[_Span]:
    spans = []
    for offset in (-((day.weekday() - target) % 7 or 7), 0, (target - day.weekday()) % 7 or 7):
        if offset or (today and day.weekday() == target):
            try:
                spans.append(_day_span(day + timedelta(days=offset)))
            except OverflowError:
                continue
    return sorted(set(spans))


def _zh_number(text: str) -> int:
    """A count written in digits or Chinese numerals up to the hundreds ("十二", "两", "几")."""
    if text.isdigit():
        return int(text)
    total, current = 0, 0
    for char in text:
        if char in "十百":
            total += (current or 1) * (10 if char == "十" else 100)
            current = 0
        else:
            current = _ZH_DIGITS[char]
    return total + current


def _day_number(text: str) -> int:
    return int(text[:2] if text[:2].isdigit() else text[0]) if text[0].isdigit() else _zh_number(text)


def _month_number(text: str) -> int:
    return _MONTH_INDEX[text.lower().rstrip(".")] if text[0].isalpha() and text.isascii() else _day_number(text)


# -- readings -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _Reading:
    label: str
    span: _Span
    precision: Precision
    absolute: bool = False
    annotate: bool = True


@dataclass(frozen=True, slots=True)
class _Habit:
    label: str
    weekdays: tuple[int, ...]


def _range_label(first: date, last: date) -> str:
    if first == last:
        return format_day(first)
    if first.year != last.year:
        return f"{format_day(first)} - {format_day(last)}"
    if first.month != last.month:
        return f"{first.day} {first.strftime('%B')} - {format_day(last)}"
    return f"{first.day}-{format_day(last)}"


def _stated_date(
    ctx: _Context, match: re.Match[str], m1: int, d1: int, m2: int, d2: int, year: str | None
) -> _Reading | None:
    """A day or range given by day and month; a missing year comes from the tense."""
    if (m1, d1) == (m2, d2) or (m2, d2) > (m1, d1):
        crosses = 0
    elif m1 == m2:
        return None  # "19-5 April"
    else:
        crosses = 1

    def make(y: int) -> _Span:
        return date(y - (crosses if year else 0), m1, d1), date(y + (0 if year else crosses), m2, d2)

    if year:
        span: _Span | None = make(int(year))
    else:
        leap = 2 in (m1, m2) and 29 in (d1, d2)
        span = _pick(_yearly(ctx.day, make, 4 if leap else 1), ctx.day, ctx.mode(match))
    if span is None:
        return None
    return _Reading(_range_label(*span), span, "day" if span[0] == span[1] else "range", True, not year)


def _month_reading(span: _Span, *, absolute: bool, annotate: bool = True) -> _Reading:
    return _Reading(span[0].strftime("%B %Y"), span, "month", absolute, annotate)


def _month_spans(ctx: _Context, month: int) -> list[_Span]:
    return _yearly(ctx.day, lambda y: _month_span(y, month))


def _weekend(day: date, direction: int, tense: Tense) -> date:
    """The Saturday of the weekend meant: last = fully over, next = not begun (today excluded)."""
    saturday = day + timedelta(days=(5 - day.weekday()) % 7)
    if direction < 0:
        saturday -= timedelta(weeks=1)
        if saturday + timedelta(days=1) >= day:
            saturday -= timedelta(weeks=1)
    elif direction > 0:
        if saturday == day:
            saturday += timedelta(weeks=1)
    elif day.weekday() == 6 or (tense == "past" and day.weekday() < 5):
        saturday -= timedelta(weeks=1)  # this weekend on a Sunday, or one spoken of as past
    return saturday


def _weekend_reading(ctx: _Context, direction: int, tense: Tense) -> _Reading:
    saturday = _weekend(ctx.day, direction, tense)
    ref_day = format_day(ctx.day)
    label = {-1: f"the weekend before {ref_day}", 1: f"the weekend after {ref_day}"}.get(
        direction, f"the weekend of {format_day(saturday)}"
    )
    return _Reading(label, (saturday, saturday + timedelta(days=1)), "weekend")


def _week_reading(ctx: _Context, weeks: int) -> _Reading:
    ref_day = format_day(ctx.day)
    span = _week_span(ctx.day, weeks)
    label = {-1: f"the week before {ref_day}", 0: f"the week of {ref_day}", 1: f"the week after {ref_day}"}.get(
        weeks, f"the week of {format_day(span[0])}"
    )
    return _Reading(label, span, "week")


def _year_reading(year: int) -> _Reading:
    return _Reading(str(year), (date(year, 1, 1), date(year, 12, 31)), "year")


def _count_reading(ctx: _Context, count: int, unit: str, back: bool, said: str) -> _Reading:
    """'two days ago', 'in 3 months', '三天前': the label is as coarse as the unit."""
    sign = -1 if back else 1
    if unit == "week":
        when = ctx.day + timedelta(weeks=sign * count)
    else:
        when = ctx.day + relativedelta(**{f"{unit}s": sign * count})
    if back and unit == "year":
        return _year_reading(when.year)
    if unit == "month":
        return _month_reading(_month_span(when.year, when.month), absolute=False)
    if back and unit == "week" and said:
        return _Reading(f"{said} before {format_day(ctx.day)}, about {format_day(when)}", _week_span(when), "week")
    return _Reading(format_day(when), _day_span(when), "day")


def _weekday_reading(
    ctx: _Context, match: re.Match[str], target: int, mode: _Mode | None, label_before: bool
) -> _Reading | None:
    """A weekday by mode; ``None`` is a bare weekday, placed by the clause's tense (never today)."""
    bare = mode is None
    chosen: _Mode = ctx.mode(match) if mode is None else mode
    if bare:
        # Without a past-tense cue a bare weekday is the coming one ("The dentist is on Friday.").
        chosen = "before" if chosen == "past" else "after"
    span = _pick(_weekday_spans(ctx.day, target, today=not bare), ctx.day, chosen)
    if span is None:
        return None
    label = format_day(span[0])
    if label_before:
        label = f"the {_WEEKDAY_NAMES[target].capitalize()} before {format_day(ctx.day)}, {label}"
    return _Reading(label, span, "day")


def _season_reading(ctx: _Context, season: str, direction: int, tense: Tense) -> _Reading | None:
    month = _SEASON_START[season]

    def make(y: int) -> _Span:
        first = date(y, month, 1)
        return first, first + relativedelta(months=3, days=-1)

    mode: _Mode = {-1: "before", 1: "after"}.get(direction, "past" if tense == "past" else "future")  # type: ignore[assignment]
    span = _pick(_yearly(ctx.day, make), ctx.day, mode)
    if span is None:
        return None
    label = f"{season} {span[0].year}" + (f"-{span[1].year}" if span[1].year != span[0].year else "")
    return _Reading(label, span, "season")


def _holiday_reading(
    ctx: _Context, match: re.Match[str], name: str, which: str | None, year: str | None
) -> _Reading | None:
    key = _HOLIDAY_ALIASES[" ".join(_APOSTROPHES_RE.sub("", name.lower()).split())]
    rule = _HOLIDAYS[key]
    if year:
        span: _Span | None = _day_span(rule(int(year)))
    else:
        which = which.lower() if which else None
        mode: _Mode = {"last": "before", "next": "after", "coming": "after"}.get(which or "", ctx.mode(match))  # type: ignore[assignment]
        if which == "this":
            mode = "past" if ctx.tense(match.start(), match.end()) == "past" else "future"
        span = _pick(_yearly(ctx.day, lambda y: _day_span(rule(y))), ctx.day, mode)
    return None if span is None else _Reading(format_day(span[0]), span, "day")


def _read(kind: str, match: re.Match[str], ctx: _Context) -> _Reading | _Habit | None:
    """Dispatch on the alternative that matched; ``None`` when it reads as no date after all."""
    g = match.group
    said = " ".join(match.group(0).lower().split())
    day = ctx.day
    if kind == "rec":
        if g("rec_wl") or g("rec_pl"):
            names = re.findall(_W, (g("rec_wl") or g("rec_pl")).lower())
            weekdays = tuple(sorted({_WEEKDAY_INDEX[n] for n in names}))
            return _Habit("every " + " and ".join(_WEEKDAY_NAMES[i].capitalize() for i in weekdays), weekdays)
        unit = (g("rec_u") or g("rec_we") or g("rec_ly") or "").lower()
        return _Habit(_RECURRING_UNITS.get(unit, _LEADING_PREP_RE.sub("", said, count=1)), _UNIT_WEEKDAYS.get(unit, ()))
    if kind == "zrec":
        if g("zrec_w"):
            weekdays = tuple(sorted({_ZH_WEEKDAY_INDEX[c] for c in g("zrec_w") if c in _ZH_WEEKDAY_INDEX}))
            return _Habit("every " + " and ".join(_WEEKDAY_NAMES[i].capitalize() for i in weekdays), weekdays)
        unit = g("zrec_u")
        return _Habit(_RECURRING_UNITS[unit], _UNIT_WEEKDAYS.get(unit, ()))
    if kind in ("fixed", "zfix"):
        when = day + timedelta(days=_FIXED_DAYS[said])
        return _Reading(format_day(when), _day_span(when), "day")
    if kind == "iso":
        when = date(int(g("iso_y")), int(g("iso_m")), int(g("iso_d")))
        return _Reading(format_day(when), _day_span(when), "day", True, False)
    if kind == "dmb":
        month = _month_number(g("dmb_m"))
        return _stated_date(ctx, match, month, _day_number(g("dmb_d1")), month, _day_number(g("dmb_d2")), g("dmb_y"))
    if kind == "dm":
        m2 = _month_number(g("dm_m2"))
        m1 = _month_number(g("dm_m1")) if g("dm_m1") else m2
        d2 = g("dm_d2x") or g("dm_d2") or g("dm_d1")
        return _stated_date(ctx, match, m1, _day_number(g("dm_d1")), m2, _day_number(d2), g("dm_y"))
    if kind == "md":
        m1 = _month_number(g("md_m1"))
        m2 = _month_number(g("md_m2")) if g("md_m2") else m1
        return _stated_date(
            ctx, match, m1, _day_number(g("md_d1")), m2, _day_number(g("md_d2") or g("md_d1")), g("md_y")
        )
    if kind == "zd":
        m1 = _day_number(g("zd_m"))
        m2 = _day_number(g("zd_m2")) if g("zd_m2") else m1
        year = g("zd_y") or (str(day.year + {"今年": 0, "明年": 1, "去年": -1}[g("zd_ry")]) if g("zd_ry") else None)
        reading = _stated_date(ctx, match, m1, _day_number(g("zd_d")), m2, _day_number(g("zd_d2") or g("zd_d")), year)
        if reading is not None and g("zd_ry"):
            return _Reading(reading.label, reading.span, reading.precision, True, True)  # the year is relative
        return reading
    if kind == "my":
        month = _MONTH_INDEX[g("my_m").lower()]
        return _month_reading(_month_span(int(g("my_y")), month), absolute=True, annotate=False)
    if kind == "mo":
        month = _MONTH_INDEX[g("mo_m").lower()]
        if g("mo_y"):
            return _month_reading(_month_span(int(g("mo_y")), month), absolute=True, annotate=False)
        mode: _Mode = "past" if g("mo_p").lower() == "since" else ctx.mode(match)
        span = _pick(_month_spans(ctx, month), day, mode)
        return None if span is None else _month_reading(span, absolute=True)
    if kind == "zm":
        month = _day_number(g("zm_m"))
        if g("zm_y"):
            return _month_reading(_month_span(int(g("zm_y")), month), absolute=True, annotate=False)
        if g("zm_ry"):
            return _month_reading(
                _month_span(day.year + {"今年": 0, "明年": 1, "去年": -1}[g("zm_ry")], month), absolute=True
            )
        if not g("zm_f") and (match.start() == 0 or ctx.text[match.start() - 1] not in "在从到于至"):
            return None  # "3月" alone is too often part of something else
        span = _pick(_month_spans(ctx, month), day, ctx.mode(match))
        return None if span is None else _month_reading(span, absolute=True)
    if kind == "rm":
        if g("rm_m") == "may":  # "this may be hard": the verb, not the month (which is capitalised)
            return None
        month = _MONTH_INDEX[g("rm_m").lower()]
        which = g("rm_w").lower()
        if which == "this":
            return _month_reading(_month_span(day.year, month), absolute=False)
        span = _pick(_month_spans(ctx, month), day, "before" if which == "last" else "after")
        return None if span is None else _month_reading(span, absolute=False)
    if kind == "od" or kind == "zo":
        nth = _day_number(g("od_d") if kind == "od" else g("zo_d"))
        spans = []
        for months in range(-2, 3):
            try:
                first = date(day.year, day.month, 1) + relativedelta(months=months)
                spans.append(_day_span(first.replace(day=nth)))
            except (ValueError, OverflowError):
                continue
        span = _pick(spans, day, ctx.mode(match))
        return None if span is None else _Reading(format_day(span[0]), span, "day")
    if kind in ("hol", "zhol"):
        if kind == "zhol":
            return _holiday_reading(ctx, match, g("zhol"), None, None)
        return _holiday_reading(ctx, match, g("hol_n"), g("hol_w"), g("hol_y"))
    if kind == "rwd":
        which = " ".join(g("rwd_w").lower().split())
        target = _WEEKDAY_INDEX[g("rwd_d").lower()]
        direction = _DIRECTION[which]
        if direction:
            return _weekday_reading(ctx, match, target, "after" if direction > 0 else "before", direction < 0)
        tense = ctx.tense(match.start(), match.end())
        return _weekday_reading(ctx, match, target, "past" if tense == "past" else "future", False)
    if kind == "bwd":
        return _weekday_reading(ctx, match, _WEEKDAY_INDEX[g("bwd_d").lower()], None, False)
    if kind == "zwd":
        target = _ZH_WEEKDAY_INDEX[g("zwd_d")]
        if g("zwd_p"):
            when = _week_span(day, _DIRECTION[g("zwd_p")])[0] + timedelta(days=target)
            return _Reading(format_day(when), _day_span(when), "day")
        return _weekday_reading(ctx, match, target, None, False)
    if kind == "rper":
        which = " ".join(g("rper_w").lower().split())
        direction = _DIRECTION[which]
        unit = g("rper_u").lower()
        if unit == "week":
            return _week_reading(ctx, direction)
        if unit == "weekend":
            return _weekend_reading(ctx, direction, ctx.tense(match.start(), match.end()))
        if unit == "month":
            when = day + relativedelta(months=direction)
            return _month_reading(_month_span(when.year, when.month), absolute=False)
        if unit == "year":
            return _year_reading(day.year + direction)
        return _season_reading(ctx, unit, direction, ctx.tense(match.start(), match.end()))
    if kind == "twk":
        return _weekend_reading(ctx, 0, ctx.tense(match.start(), match.end()))
    if kind == "zwe":
        return _weekend_reading(ctx, _DIRECTION.get(g("zwe_p") or "", 0), ctx.tense(match.start(), match.end()))
    if kind == "zwk":
        return _week_reading(ctx, _DIRECTION[g("zwk_p")])
    if kind == "zmo":
        when = day + relativedelta(months={"下": 1, "上": -1}.get(said[0], 0))
        return _month_reading(_month_span(when.year, when.month), absolute=False)
    if kind == "zyr":
        return _year_reading(day.year + {"明": 1, "去": -1, "今": 0, "前": -2, "后": 2}[said[0]])
    if kind == "zcnt":
        number, unit = g("zcnt_n"), g("zcnt_u").lstrip("个")
        back = g("zcnt_d")[0] in "以之前" and "后" not in g("zcnt_d")
        if number == "半":
            count, unit = (6, "month") if unit == "年" else (15, "day") if unit == "月" else (0, "")
            if not count:
                return None
        else:
            count = _zh_number(number)
            unit = _ZH_UNITS[unit]
        return _count_reading(ctx, count, unit, back, f"{count} {unit}s" if count != 1 else f"1 {unit}")
    # kind == "cnt": the existing English counts
    words = said.split()
    number = " ".join(words[1:-1]) if words[0] == "in" else " ".join(words[:-2] if words[-1] != "now" else words[:-3])
    unit_word = words[-1] if words[0] == "in" else words[-2] if words[-1] != "now" else words[-3]
    count = int(number) if number.isdigit() else _NUMBER_WORDS[number]
    back = words[-1] in ("ago", "before", "earlier")
    unit = unit_word.rstrip("s").replace("weekend", "week")
    if back and unit == "week" and words[-1] == "earlier":
        return _Reading(format_day(day - timedelta(weeks=count)), _day_span(day - timedelta(weeks=count)), "day")
    return _count_reading(ctx, count, unit, back, " ".join(words[:-1]))


def find_time_expressions(text: str, reference: datetime) -> list[TimeExpression]:
    """Find time expressions in ``text`` and resolve them against ``reference``.

    An expression that points outside the calendar (years 1 to 9999: "tomorrow" on 31 December
    9999, "5000 years ago") is left out.
    """
    found: list[TimeExpression] = []
    ctx: _Context | None = None
    tz = reference.tzinfo
    matches = (match for start, end in _trigger_windows(text) for match in _EXPRESSION_RE.finditer(text, start, end))
    for match in matches:
        kind = match.lastgroup
        if kind is None:
            continue
        ctx = ctx or _Context(text, reference)
        try:
            reading = _read(kind, match, ctx)
        except (OverflowError, ValueError):
            continue
        if reading is None:
            continue
        start = match.start()
        if kind in _STRIP_PREP and (prep := _LEADING_PREP_RE.match(text, start)):
            start = prep.end()
        if isinstance(reading, _Habit):
            moment = datetime.combine(ctx.day, time.min, tzinfo=tz)
            found.append(
                TimeExpression(start, match.end(), text[start : match.end()], reading.label, moment, False, moment,
                               "recurring", True, reading.weekdays, False, False)
            )  # fmt: skip
            continue
        moment = datetime.combine(reading.span[0], time.min, tzinfo=tz)
        until = datetime.combine(reading.span[1], time.max, tzinfo=tz)
        found.append(
            TimeExpression(start, match.end(), text[start : match.end()], reading.label, moment, moment > reference,
                           until, reading.precision, False, (), reading.absolute, reading.annotate)
        )  # fmt: skip
    return found


def _trigger_windows(text: str) -> list[tuple[int, int]]:
    """The stretches of ``text`` around its trigger words, cut at whitespace, that hold every expression.

    Every expression holds a trigger (a weekday, month, unit, holiday word, digit or Chinese
    trigger character) and lies within :data:`EXPRESSION_REACH` of it, so scanning these
    finds what scanning the whole text finds; the big regex costs by the character, and a
    long turn has few triggers.
    """
    windows: list[tuple[int, int]] = []
    length = len(text)
    for token in _TOKEN_RE.finditer(text):
        word = token.group(1)
        if word is not None and word.lower() not in _TRIGGER_WORDS:
            continue
        start, end = max(0, token.start() - EXPRESSION_REACH), min(length, token.end() + EXPRESSION_REACH)
        while start > 0 and not text[start - 1].isspace():
            start -= 1
        while end < length and not text[end].isspace():
            end += 1
        if windows and start <= windows[-1][1]:
            windows[-1] = (windows[-1][0], max(end, windows[-1][1]))
        else:
            windows.append((start, end))
    return windows


_DATED_ALREADY = re.compile(r"\s*\([^()]*\b\d{4}\)")


class DateNote(NamedTuple):
    """A date written into a text after the relative expression that ends at ``at``."""

    at: int
    note: str
    """What is written there: `` (7 May 2023)``."""


def date_notes(text: str, reference: datetime) -> tuple[list[DateNote], list[TimeExpression]]:
    """Where dates are written into ``text`` (see :func:`with_notes`), with the expressions found."""
    expressions = find_time_expressions(text, reference)
    notes = [
        DateNote(expr.end, f" ({expr.resolved})")
        for expr in expressions
        # Already dated in brackets (a quoted memory, "next month (January 2027)"): not twice.
        if expr.annotate and not _DATED_ALREADY.match(text, expr.end)
    ]
    return notes, expressions


def with_notes(text: str, notes: Iterable[DateNote], offset: int = 0) -> str:
    """``text`` with the dates written in; ``offset``: where ``text`` begins in the text the notes place."""
    pieces, last = [], 0
    for at, note in notes:
        pieces.append(text[last : at - offset])
        pieces.append(note)
        last = at - offset
    pieces.append(text[last:])
    return "".join(pieces)
