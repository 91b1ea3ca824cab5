"""The LoCoMo benchmark: conversations of ``locomo10.json`` (or a subset) as benchmark input.

Questions of categories 1-4 are asked (multi-hop, temporal, open-domain, single-hop); the
adversarial category 5 has no gold answer and is excluded by convention. Gold evidence ids
that name no turn of the conversation (LoCoMo has a few malformed ones) are dropped from the
question and counted in the report. Questions are asked at the time of the conversation's
last message, so foresight is judged as of the end of the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from evermem_integrations.bench.corpus import BenchConversation, BenchQuestion, BenchTurn
from evermem_integrations.bench.metrics import known_evidence
from evermem_integrations.datasets.locomo import CATEGORY_NAMES, LocomoConversation, load_locomo

DEFAULT_CATEGORIES = (1, 2, 3, 4)


def locomo_conversations(
    path: str | Path,
    conversation_ids: Sequence[str] | None = None,
    *,
    categories: Sequence[int] = DEFAULT_CATEGORIES,
    limit_questions: int | None = None,
    sessions: int | None = None,
) -> list[BenchConversation]:
    """Load LoCoMo conversations and their questions of ``categories`` for the runner.

    Args:
        path: a LoCoMo JSON file.
        conversation_ids: keep only these ``sample_id`` values (all when None).
        categories: question categories to ask (5, adversarial, has no answer to score).
        limit_questions: ask at most this many questions per conversation (smoke runs).
        sessions: keep only the first N sessions of each conversation, and the questions
            whose gold evidence lies entirely in them (quick runs; the figures are then not
            comparable with full-conversation ones).

    """
    loaded = load_locomo(path, list(conversation_ids) if conversation_ids else None)
    return [to_bench(conversation, categories, limit_questions, sessions) for conversation in loaded]


def to_bench(
    conversation: LocomoConversation,
    categories: Sequence[int] = DEFAULT_CATEGORIES,
    limit_questions: int | None = None,
    sessions: int | None = None,
) -> BenchConversation:
    """One LoCoMo conversation as a :class:`BenchConversation`."""
    messages = list(conversation.messages)
    if sessions is not None:
        kept_sessions = set(sorted(conversation.session_dates)[:sessions])
        messages = [m for m in messages if m.metadata.get("session") in kept_sessions]
    turns = []
    for message in messages:
        session = int(message.metadata.get("session", 0))
        caption = message.metadata.get("image_caption")
        placeholder = caption is not None and message.content.startswith("[shared an image:")
        session_date = conversation.session_dates.get(session, message.timestamp)
        turns.append(BenchTurn.of(message, session_date, None if placeholder else caption))
    ids = {t.id for t in turns}
    last = messages[-1].timestamp
    questions = []
    for index, qa in enumerate(conversation.questions):
        if qa.category not in categories:
            continue
        known, unknown = known_evidence(qa.evidence, ids)
        if sessions is not None and (unknown or not known):
            continue  # its evidence lies (partly) in a session left out
        questions.append(
            BenchQuestion(
                id=f"{conversation.sample_id}:q{index}",
                question=qa.question,
                answer=qa.answer,
                category=CATEGORY_NAMES.get(qa.category, str(qa.category)),
                evidence=known,
                current_time=last,
                unknown_evidence=unknown,
            )
        )
        if limit_questions is not None and len(questions) >= limit_questions:
            break
    return BenchConversation(id=conversation.sample_id, messages=messages, turns=turns, questions=questions)
