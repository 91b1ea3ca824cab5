"""Text helpers shared by extraction, the lexical index and the benchmarks.

Word splitting is regex-based for alphabetic scripts; Chinese runs are segmented with
jieba (loaded lazily, only when CJK text appears) because FTS5's unicode61 tokenizer would
otherwise index a whole Chinese sentence as one token.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import sentencex

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
WORD_PATTERN = r"[a-z0-9]+(?:'[a-z]+)?|[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+"
"""A word of lower-cased text, as :func:`words` reads it (a Chinese run whole, before jieba)."""
_WORD = re.compile(WORD_PATTERN)
_LINES = re.compile(r"\s*\n\s*")
# sentencex knows abbreviations by context and sometimes still ends a sentence after a title
# before a name ("The U.S. team won. Ms. Lee agreed."); a title never ends a sentence.
_TITLE_END = re.compile(r"(?:^|\s)(?:Mr|Mrs|Ms|Mx|Dr|Prof|Sr|Jr|St|Mt|Rev|Gen|Capt|Lt|Sgt|approx|vs|No)\.$")

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
    much many one s t will did does did do be it's im ive id now currently nowadays""".split()
)


def has_cjk(text: str) -> bool:
    """Whether ``text`` contains Chinese characters."""
    # isascii() is a flag of the string, read at once; the regex reads every character (most text is ASCII).
    return not text.isascii() and _CJK_RUN.search(text) is not None


@lru_cache(maxsize=1)
def jieba_module():  # type: ignore[no-untyped-def]
    """jieba, imported on first use and quiet."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba


def chinese_keywords(text: str, count: int) -> list[tuple[str, float]]:
    """The TF-IDF keywords of ``text`` (jieba's) with their weights.

    Importing jieba.analyse loads its IDF table, so it is imported here, on the first
    title of a Chinese episode, not with the segmenter the index needs.
    """
    jieba_module()  # quiet before the first load
    import jieba.analyse

    return [
        (str(word), float(weight)) for word, weight in jieba.analyse.extract_tags(text, topK=count, withWeight=True)
    ]


def is_question(sentence: str) -> bool:
    """Whether a sentence ends with a question mark (Latin or CJK)."""
    return sentence.rstrip().endswith(("?", "？"))


def words(text: str) -> list[str]:
    """Lower-cased word tokens; Chinese runs are split into jieba search terms."""
    lowered = text.lower()
    if not has_cjk(lowered):  # most text: no token needs jieba
        return _WORD.findall(lowered)
    tokens: list[str] = []
    for token in _WORD.findall(lowered):
        if _CJK_RUN.fullmatch(token):
            tokens.extend(t for t in jieba_module().cut_for_search(token) if t.strip())
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
    """Split text into sentences (see :func:`sentence_spans`)."""
    return [sentence.text for sentence in sentence_spans(text)]


@dataclass(frozen=True)
class TextPiece:
    """A span ``text[start:end]`` of a longer text."""

    text: str
    start: int
    end: int


def sentence_spans(text: str) -> list[TextPiece]:
    """The sentences of ``text`` as spans of it, stripped: lines first, then sentencex within a line.

    sentencex (Wikimedia's rule-based segmenter, compiled) keeps abbreviations ("Dr. Okafor",
    "e.g."), decimals, times, URLs and emoji inside their sentence and ends sentences at CJK
    punctuation; a line break always ends a sentence (chat lists, pasted text). Spans, so that
    what is read from a sentence can be placed in the text it was said in.
    """
    spans: list[tuple[int, int]] = []
    breaks = [(m.start(), m.end()) for m in _LINES.finditer(text)]
    line_start = 0
    for line_end, next_start in [*breaks, (len(text), len(text))]:
        at, in_line = line_start, len(spans)
        for segment in sentencex.segment("en", text[line_start:line_end]):
            found = text.find(segment, at, line_end)  # segments follow one another through the line
            start = at if found < 0 else found
            at = end = start + len(segment)
            while start < end and text[start].isspace():
                start += 1
            while end > start and text[end - 1].isspace():
                end -= 1
            if start == end:
                continue
            if len(spans) > in_line and _TITLE_END.search(text[spans[-1][0] : spans[-1][1]]):
                spans[-1] = (spans[-1][0], end)  # "Dr." ends no sentence
            else:
                spans.append((start, end))
        line_start = next_start
    return [TextPiece(text[start:end], start, end) for start, end in spans]


_SENTENCE_END = re.compile(r"[.!?;:。！？；](?=\s)|[。！？]")


def pieces(text: str, max_chars: int) -> list[TextPiece]:
    """Cut ``text`` into spans of at most ``max_chars``, at line ends, else sentence ends, else spaces.

    Each span is stripped of the white space around it, so the pieces read as passages and
    together hold every word of the text, in order.
    """
    found: list[TextPiece] = []
    start, length = 0, len(text)
    while start < length:
        while start < length and text[start].isspace():
            start += 1
        if start >= length:
            break
        end = min(start + max_chars, length)
        if end < length:
            window = text[start:end]
            half = max_chars // 2
            cut = window.rfind("\n", half)
            if cut < 0:
                ends = [m.end() for m in _SENTENCE_END.finditer(window, half)]
                cut = ends[-1] if ends else max(window.rfind(" ", half), window.rfind("\t", half))
            if cut > 0:
                end = start + cut
        stop = end
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        found.append(TextPiece(text[start:stop], start, stop))
        start = end
    return found


def query_terms(query: str) -> list[str]:
    """The words a lexical index is asked for, once each (``"Caroline's"`` asks for ``caroline``)."""
    # "Caroline's" is indexed as "caroline" + "s": query the name, not the phrase.
    return [t for t in dict.fromkeys(w.split("'")[0] for w in content_words(lexical_text(query))) if t]


# jieba's segmentation (cut_for_search) of the Chinese question words every profile entry is indexed with
# (profile_rules.attribute_questions), looked up so that remembering a chat without Chinese never loads
# jieba's dictionary (0.5-1 s). A test holds it equal to jieba's.
SEGMENTED_WORDS: dict[str, str] = {
    word: word
    for word in "住 公司 吃 哥哥 哪里 喜欢 妹妹 姐姐 学 学校 宠物 家人 对象 工作 弟弟 朋友 每周 爱好 狗 猫 "
    "素 老公 老婆 老家 老师 职业 讨厌 车 过敏".split()
} | {"不喜欢": "不 喜欢", "住在": "住 在", "哪里人": "哪里 人", "最喜欢": "最 喜欢"}


def lexical_text(text: str) -> str:
    """The form stored in and queried against the FTS5 index (CJK pre-segmented)."""
    if not has_cjk(text):
        return text
    return _CJK_RUN.sub(lambda m: f" {_segmented(m.group(0))} ", text)


def _segmented(run: str) -> str:
    known = SEGMENTED_WORDS.get(run)
    return known if known is not None else " ".join(jieba_module().cut_for_search(run))
