"""The LongMemEval benchmark format (``longmemeval_s.json``, ``longmemeval_m.json``, ``longmemeval_oracle.json``).

The file is a list of question instances, each with its own haystack of chat sessions::

    {"question_id", "question_type", "question", "answer", "question_date",
     "haystack_session_ids": [...], "haystack_dates": [...],
     "haystack_sessions": [[{"role": "user"|"assistant", "content": ..., "has_answer": true?}, ...], ...],
     "answer_session_ids": [...]}

Dates look like ``2023/05/20 (Sat) 02:21``. A question id ending in ``_abs`` is an abstention
question (the haystack does not hold the answer). Each instance becomes its own set of
messages (one scope per question when ingested): turn ``i`` of session ``S`` gets the message
id ``S:i``, so gold turns (``has_answer``) map to ``source_message_ids`` directly.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from evermem_integrations.engine.models import Message
from evermem_integrations.engine.timeparse import parse_timestamp
from evermem_integrations.engine.validation import shows_nothing

TURN_SPACING = timedelta(seconds=30)
_WEEKDAY = re.compile(r"\s*\((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\)\s*", re.IGNORECASE)


def parse_longmemeval_date(value: object) -> datetime:
    """A LongMemEval date (``2023/05/20 (Sat) 02:21``) as an aware UTC datetime."""
    if isinstance(value, str):
        value = _WEEKDAY.sub(" ", value).strip()
    return parse_timestamp(value)


class LongMemEvalTurn(BaseModel):
    """One chat turn; ``has_answer`` marks the turns that hold the answer."""

    role: Literal["user", "assistant", "system"]
    content: str
    has_answer: bool = False


class LongMemEvalQuestion(BaseModel):
    """One LongMemEval question with its haystack of sessions."""

    question_id: str
    question_type: str
    question: str
    answer: str
    question_date: datetime
    haystack_session_ids: list[str]
    haystack_dates: list[datetime]
    haystack_sessions: list[list[LongMemEvalTurn]]
    answer_session_ids: list[str] = Field(default_factory=list)

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_text(cls, value: object) -> str:
        return str(value)  # a few answers are numbers

    @field_validator("question_date", mode="before")
    @classmethod
    def _question_date(cls, value: object) -> datetime:
        return parse_longmemeval_date(value)

    @field_validator("haystack_dates", mode="before")
    @classmethod
    def _haystack_dates(cls, value: object) -> list[datetime]:
        if not isinstance(value, list):
            raise ValueError("haystack_dates must be a list")
        return [parse_longmemeval_date(v) for v in value]

    @model_validator(mode="after")
    def _aligned(self) -> LongMemEvalQuestion:
        lengths = {len(self.haystack_session_ids), len(self.haystack_dates), len(self.haystack_sessions)}
        if len(lengths) != 1:
            raise ValueError(
                f"question {self.question_id}: haystack_session_ids, haystack_dates and haystack_sessions "
                f"must have the same length (got {len(self.haystack_session_ids)}, {len(self.haystack_dates)}, "
                f"{len(self.haystack_sessions)})"
            )
        return self

    @property
    def is_abstention(self) -> bool:
        """Whether the haystack is built not to hold the answer (id ends in ``_abs``)."""
        return self.question_id.endswith("_abs")

    def messages(self) -> list[Message]:
        """The haystack as EverMem messages (time order; turns that show nothing skipped).

        The sender is the role (``user``/``assistant``); the time is the session date plus 30
        seconds per turn; ``metadata`` keeps the session id and whether the turn holds the answer.
        """
        sessions = sorted(
            zip(self.haystack_dates, self.haystack_session_ids, self.haystack_sessions, strict=True), key=lambda s: s[0]
        )
        messages = []
        for start, session_id, turns in sessions:
            for index, turn in enumerate(turns):
                if shows_nothing(turn.content):
                    continue
                messages.append(
                    Message(
                        id=turn_id(session_id, index),
                        sender=turn.role,
                        role=turn.role,
                        content=turn.content,
                        timestamp=start + index * TURN_SPACING,
                        metadata={
                            "session_id": session_id,
                            "session_date": start.isoformat(),
                            "has_answer": turn.has_answer,
                        },
                    )
                )
        return messages

    def evidence_ids(self) -> list[str]:
        """Ids of the turns marked ``has_answer`` (the gold evidence)."""
        return [
            turn_id(session_id, index)
            for session_id, turns in zip(self.haystack_session_ids, self.haystack_sessions, strict=True)
            for index, turn in enumerate(turns)
            if turn.has_answer and not shows_nothing(turn.content)
        ]


def turn_id(session_id: str, index: int) -> str:
    """The message id of turn ``index`` of session ``session_id``."""
    return f"{session_id}:{index}"


def load_longmemeval(
    path: str | Path,
    *,
    question_types: list[str] | None = None,
    include_abstention: bool = True,
    limit: int | None = None,
) -> list[LongMemEvalQuestion]:
    """Read a LongMemEval JSON file.

    Args:
        path: the JSON file (a list of question instances).
        question_types: keep only these ``question_type`` values.
        include_abstention: keep ``_abs`` questions.
        limit: keep at most this many questions (after filtering).

    Raises:
        ValueError: the file is not a list of LongMemEval questions (the message names the
            first bad instance and field).

    """
    raw: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of LongMemEval questions, got {type(raw).__name__}")
    questions = []
    for position, item in enumerate(raw):
        try:
            question = LongMemEvalQuestion.model_validate(item)
        except ValidationError as exc:
            reasons = "; ".join(_reason(error) for error in exc.errors())
            raise ValueError(f"{path}: item {position} is not a LongMemEval question: {reasons}") from None
        if question_types and question.question_type not in question_types:
            continue
        if question.is_abstention and not include_abstention:
            continue
        questions.append(question)
        if limit is not None and len(questions) >= limit:
            break
    return questions


def _reason(error: Any) -> str:
    location = ".".join(str(part) for part in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message
