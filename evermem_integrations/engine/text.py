"""Text helpers shared by extraction, the lexical index and the benchmarks.

Word splitting is regex-based for alphabetic scripts; Chinese runs are segmented with
jieba (loaded lazily, only when CJK text appears) because FTS5's unicode61 tokenizer would
otherwise index a whole Chinese sentence as one token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+|(?<=[。！？])|\n+")

STOP_WORDS = frozenset(
    """a about above after again against all am an and any are aren't as at be because been
    before being below between both but by can can't cannot could couldn't did didn't do does
    doesn't doing don't down during each few for from further had hadn't has hasn't have
    haven't having he he'd he'll he's her here here's hers herself him himself his how how's i
    i'd i'll i'm i've if in into is isn't it it's its itself let's me more most mustn't my
    myself no nor not of off on once only or other ought our ours ourselves out over own same
    shan't she she'd she'll she's should shouldn't so some such than that that's the their
    theirs them themselves then there there's these they they'd they'll they're they've this
    those through to too under until up very was wasn't we we'd we'll we're we've were weren't
    what what's when when's where where's which while who who's whom why why's with won't
    would wouldn't you you'd you'll you're you've your yours yourself yourselves also just
    really so yeah yes oh wow hey hi hello thanks thank ok okay gonna got get like lot lots
    much many one s t will did does did do be it's im ive id""".split()
)


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains Chinese characters."""
    return _CJK_RUN.search(text) is not None


@lru_cache(maxsize=1)
def _jieba():  # type: ignore[no-untyped-def]
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def words(text: str) -> list[str]:
    """Lower-cased word tokens; Chinese runs are split into jieba search terms."""
    tokens: list[str] = []
    for token in _WORD.findall(text.lower()):
        if _CJK_RUN.fullmatch(token):
            tokens.extend(t for t in _jieba().cut_for_search(token) if t.strip())
        else:
            tokens.append(token)
    return tokens


def content_words(text: str) -> list[str]:
    """Words that carry meaning: lower-cased alphanumeric words minus stop words."""
    return [w for w in words(text) if w not in STOP_WORDS]


def unique(items: Iterable[str]) -> list[str]:
    """Items in first-seen order without repeats."""
    return list(dict.fromkeys(items))


def split_sentences(text: str) -> list[str]:
    """Split text into sentences on terminal punctuation (Latin and CJK) and newlines."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def lexical_text(text: str) -> str:
    """The form stored in and queried against the FTS5 index (CJK pre-segmented)."""
    if not has_cjk(text):
        return text
    return _CJK_RUN.sub(lambda m: " " + " ".join(_jieba().cut_for_search(m.group(0))) + " ", text)
