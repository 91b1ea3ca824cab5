"""The assistant-chat benchmark: the bundled user/assistant conversation as benchmark input.

Every question is asked at its own ``question_date`` (most at the end of the conversation; a
few temporal ones on the day the plan was made, while it was still ahead). The question type
(single-hop, temporal, knowledge-update, multi-session, preference) is the category recall is
broken down by.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, time

from evermem_integrations.bench.corpus import BenchConversation, BenchQuestion, BenchTurn
from evermem_integrations.datasets.assistant_chat import AssistantChat


def to_bench(
    chat: AssistantChat,
    *,
    question_types: Sequence[str] | None = None,
    limit_questions: int | None = None,
) -> BenchConversation:
    """The conversation and its questions (of ``question_types``, at most ``limit_questions``)."""
    turns = [
        BenchTurn.of(m, datetime.combine(chat.session_dates[str(m.metadata["session"])], time(), UTC))
        for m in chat.messages
    ]
    questions = [
        BenchQuestion(
            id=f"{chat.id}:{q.id}",
            question=q.question,
            answer=q.answer,
            category=q.type,
            evidence=list(q.evidence),
            current_time=q.question_date,
        )
        for q in chat.truth.questions
        if not question_types or q.type in question_types
    ]
    if limit_questions is not None:
        questions = questions[:limit_questions]
    return BenchConversation(id=chat.id, messages=list(chat.messages), turns=turns, questions=questions)
