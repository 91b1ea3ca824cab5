"""The LongMemEval benchmark: every question instance is a conversation of its own.

Each question's haystack is ingested into its own scope (``group_id=<question_id>``) and the
question is asked at its ``question_date``. The gold evidence is the set of turns marked
``has_answer``; a question without such turns (e.g. abstention) gets no evidence recall
but still an answer recall. Categories are the ``question_type`` values, with
``-abstention`` appended for abstention questions (their gold answer explains why the
information is missing), which are left out unless asked for. :func:`split_category` reads a
category back, for the LongMemEval judge.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evermem_integrations.bench.corpus import BenchConversation, BenchQuestion, BenchTurn
from evermem_integrations.bench.metrics import known_evidence
from evermem_integrations.datasets.longmemeval import LongMemEvalQuestion, load_longmemeval
from evermem_integrations.engine.timeparse import parse_timestamp

ABSTENTION_SUFFIX = "-abstention"


def longmemeval_conversations(
    path: str | Path,
    *,
    question_types: Sequence[str] | None = None,
    include_abstention: bool = False,
    limit: int | None = None,
) -> list[BenchConversation]:
    """Load a LongMemEval file as one :class:`BenchConversation` per question."""
    questions = load_longmemeval(
        path,
        question_types=list(question_types) if question_types else None,
        include_abstention=include_abstention,
        limit=limit,
    )
    return [to_bench(q) for q in questions]


def to_bench(item: LongMemEvalQuestion) -> BenchConversation:
    """One LongMemEval question instance as a :class:`BenchConversation`."""
    messages = item.messages()
    turns = [BenchTurn.of(m, parse_timestamp(m.metadata["session_date"])) for m in messages]
    known, unknown = known_evidence(item.evidence_ids(), {t.id for t in turns})
    question = BenchQuestion(
        id=item.question_id,
        question=item.question,
        answer=item.answer,
        category=item.question_type + (ABSTENTION_SUFFIX if item.is_abstention else ""),
        evidence=known,
        current_time=item.question_date,
        unknown_evidence=unknown,
    )
    return BenchConversation(id=item.question_id, messages=messages, turns=turns, questions=[question])


def split_category(category: str) -> tuple[str, bool]:
    """The ``question_type`` of a LongMemEval question's category, and whether it is an abstention one."""
    if category.endswith(ABSTENTION_SUFFIX):
        return category.removesuffix(ABSTENTION_SUFFIX), True
    return category, False
