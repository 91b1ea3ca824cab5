"""Retrieval metrics of the benchmarks: evidence recall, answer recall and their summaries.

Evidence recall is deliberately strict. A gold evidence turn counts as retrieved only when
an item of the context *claims* it (lists the turn's id in ``source_message_ids``) **and**
the rendered context really *carries* it: at least half of the turn's content words
(lower-cased alphanumeric words minus stop words) appear in the context text. A short
summary that merely cites its sources therefore does not score, and neither does a context
that happens to contain the words without pointing at the turn.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from evermem_integrations.engine.text import content_words

EVIDENCE_WORD_SHARE = 0.5
"""Share of a turn's content words the context must contain for the turn to count."""


@lru_cache(maxsize=2048)
def word_set(text: str) -> frozenset[str]:
    """The distinct content words of ``text`` (the unit both recalls are measured in).

    Cached: the same context (the full conversation, a repeated search result) is scored
    for many questions and budgets.
    """
    return frozenset(content_words(text))


def turn_is_carried(turn_text: str, context_words: Collection[str], share: float = EVIDENCE_WORD_SHARE) -> bool:
    """Whether the context contains at least ``share`` of the turn's distinct content words.

    A turn without any content word ("Wow!") is carried vacuously: only the source claim
    decides for it.
    """
    wanted = word_set(turn_text)
    if not wanted:
        return True
    return sum(1 for w in wanted if w in context_words) >= share * len(wanted)


def evidence_recall(
    evidence_ids: Sequence[str],
    turn_texts: Mapping[str, str],
    claimed_ids: Collection[str],
    context: str,
    share: float = EVIDENCE_WORD_SHARE,
) -> float | None:
    """Share of the gold evidence turns that are in the context (None without gold turns).

    Args:
        evidence_ids: the question's gold evidence turn ids (unknown ids must be dropped
            by the caller, see :func:`known_evidence`).
        turn_texts: turn id -> what was said in the turn.
        claimed_ids: every id listed in ``source_message_ids`` by an item of the context.
        context: the rendered context text.
        share: the share of a turn's content words that must appear in ``context``.

    """
    gold = list(dict.fromkeys(evidence_ids))
    if not gold:
        return None
    context_words = word_set(context)
    hits = sum(1 for turn in gold if turn in claimed_ids and turn_is_carried(turn_texts[turn], context_words, share))
    return hits / len(gold)


def answer_recall(answer: str | None, context: str) -> float | None:
    """Share of the gold answer's distinct content words present in the context.

    None when the answer has no content word (e.g. "yes"), so such questions do not
    distort the mean.
    """
    wanted = word_set(answer or "")
    if not wanted:
        return None
    present = word_set(context)
    return sum(1 for w in wanted if w in present) / len(wanted)


def known_evidence(evidence_ids: Iterable[str], turn_ids: Collection[str]) -> tuple[list[str], list[str]]:
    """Split gold evidence ids into those naming a real turn and malformed/unknown ones."""
    known: list[str] = []
    unknown: list[str] = []
    for turn in evidence_ids:
        (known if turn in turn_ids else unknown).append(turn)
    return known, unknown


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mean(values: Iterable[float | None]) -> float | None:
    """Mean of the values that are not None (None when there are none)."""
    kept = [v for v in values if v is not None]
    return sum(kept) / len(kept) if kept else None


def std(values: Sequence[float]) -> float:
    """Population standard deviation (0 for fewer than two values)."""
    if len(values) < 2:
        return 0.0
    centre = sum(values) / len(values)
    return math.sqrt(sum((v - centre) ** 2 for v in values) / len(values))


@dataclass(frozen=True)
class QuestionScore:
    """What one system's context scored on one question at one budget."""

    system: str
    budget: int
    conversation: str
    question_index: int
    category: str
    evidence_recall: float | None
    answer_recall: float | None
    context_tokens: int
