"""The bundled assistant-chat data set: one user and an AI assistant over seven weeks, with ground truth.

``data/assistant_chat.json`` is an original conversation written for this project (Jia, a
user, and Atlas, an assistant; autumn 2025, 15 sessions, some messages in Chinese). Next to
the messages it holds the ground truth the engine is measured against:

* ``profile``: the user's end values (attribute, value, acceptable aliases, stating messages),
  in the engine's attribute vocabulary (``residence``, ``favorite tea``, ``partner occupation``...);
* ``superseded``: values that changed (attribute, old value, new value, the changing message);
* ``plans``: dated plans (a distinctive keyword, the stating message, ``start`` = the day it was
  said, ``end`` = the event's last day, ``recurring`` for open-ended schedules) and
  ``not_plans``: messages (acknowledgements, questions, past events) that are no foresight;
* ``topics``: a topic label per message, and the ``recurring_topics`` that come back on several days;
* ``questions``: questions with answer, evidence message ids, question date and type; a
  knowledge-update one also names its current and old values and ``old_evidence``, the
  messages that stated the old value while it held.

:func:`load_assistant_chat` validates all of it (every id names a message, every message has a
topic, a plan starts on the day its message was sent) and returns the messages as EverMem
:class:`~evermem_integrations.engine.models.Message` objects, like the LoCoMo loader does.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from evermem_integrations.engine.models import Message

DATA_PATH = Path(__file__).parent / "data" / "assistant_chat.json"
"""The bundled conversation and its ground truth (shipped in the wheel)."""

QuestionType = Literal["single-hop", "temporal", "knowledge-update", "multi-session", "preference"]
QUESTION_TYPES: tuple[str, ...] = ("single-hop", "temporal", "knowledge-update", "multi-session", "preference")


class ProfileTruth(BaseModel):
    """One expected current profile entry of the user."""

    attribute: str
    value: str
    aliases: list[str] = Field(default_factory=list)
    message_ids: list[str] = Field(min_length=1)

    @property
    def forms(self) -> list[str]:
        """The value and every acceptable alias."""
        return [self.value, *self.aliases]


class SupersededTruth(BaseModel):
    """A value that changed: ``old`` must no longer be current once ``message_id`` said ``new``."""

    attribute: str
    old: str
    old_aliases: list[str] = Field(default_factory=list)
    new: str
    message_id: str
    old_message_ids: list[str] = Field(default_factory=list)

    @property
    def old_forms(self) -> list[str]:
        """The old value and its aliases."""
        return [self.old, *self.old_aliases]


class PlanTruth(BaseModel):
    """A plan that should become foresight: found by ``keyword``, valid from ``start`` to ``end``."""

    keyword: str
    message_id: str
    start: date
    end: date | None = None
    recurring: bool = False
    note: str = ""

    @model_validator(mode="after")
    def _window(self) -> PlanTruth:
        if self.recurring and self.end is not None:
            raise ValueError(f"plan {self.keyword!r}: a recurring plan has no end")
        if not self.recurring and (self.end is None or self.end < self.start):
            raise ValueError(f"plan {self.keyword!r}: needs an end on or after its start")
        return self


class QuestionTruth(BaseModel):
    """A question with its gold answer; knowledge-update ones also name the current and old values."""

    id: str
    type: QuestionType
    question: str
    answer: str
    evidence: list[str] = Field(min_length=1)
    question_date: datetime
    chinese: bool = False
    current: list[str] | None = None
    old: list[str] | None = None
    old_evidence: list[str] = Field(default_factory=list)
    """The messages that stated the old value while it held (shown again, they should read as history)."""

    @model_validator(mode="after")
    def _values(self) -> QuestionTruth:
        if self.type == "knowledge-update" and not (self.current and self.old):
            raise ValueError(f"{self.id}: a knowledge-update question names its current and old values")
        return self


class GroundTruth(BaseModel):
    """Everything the conversation should leave in memory."""

    subject: str
    profile: list[ProfileTruth]
    superseded: list[SupersededTruth] = Field(default_factory=list)
    plans: list[PlanTruth] = Field(default_factory=list)
    not_plans: list[str] = Field(default_factory=list)
    topics: dict[str, str]
    recurring_topics: list[str] = Field(default_factory=list)
    questions: list[QuestionTruth] = Field(default_factory=list)

    def referenced_ids(self) -> list[str]:
        """Every message id the truth refers to (for the existence check)."""
        found = [i for p in self.profile for i in p.message_ids]
        found += [i for s in self.superseded for i in (s.message_id, *s.old_message_ids)]
        found += [p.message_id for p in self.plans] + list(self.not_plans)
        found += [i for q in self.questions for i in (*q.evidence, *q.old_evidence)]
        return found


class AssistantChat(BaseModel):
    """The conversation as EverMem messages, its metadata and its ground truth."""

    id: str
    title: str = ""
    user: str
    assistant: str
    user_details: dict[str, Any] = Field(default_factory=dict)
    timezone: str = "UTC"
    session_dates: dict[str, date]
    messages: list[Message]
    truth: GroundTruth

    @model_validator(mode="after")
    def _consistent(self) -> AssistantChat:
        by_id = {m.id: m for m in self.messages}
        if len(by_id) != len(self.messages):
            raise ValueError("message ids must be unique")
        unknown = sorted(
            {i for i in self.truth.referenced_ids() if i not in by_id} | set(self.truth.topics) - set(by_id)
        )
        if unknown:
            raise ValueError(f"ground truth names unknown message ids: {unknown}")
        untagged = [m.id for m in self.messages if m.id not in self.truth.topics]
        if untagged:
            raise ValueError(f"messages without a topic: {untagged}")
        for plan in self.truth.plans:
            said = by_id[plan.message_id].timestamp.date()
            if plan.start != said:
                raise ValueError(f"plan {plan.keyword!r} starts {plan.start}, but {plan.message_id} was sent on {said}")
        for question in self.truth.questions:
            late = [i for i in question.evidence if by_id[i].timestamp > question.question_date]
            if late:
                raise ValueError(f"{question.id} is asked before its evidence {late} was said")
        plan_ids = {p.message_id for p in self.truth.plans}
        both = sorted(plan_ids & set(self.truth.not_plans))
        if both:
            raise ValueError(f"messages both plan and not plan: {both}")
        return self

    @property
    def last_time(self) -> datetime:
        """When the conversation's last message was sent."""
        return max(m.timestamp for m in self.messages)


def load_assistant_chat(path: str | Path | None = None) -> AssistantChat:
    """Read and validate the assistant-chat file (default: the bundled one)."""
    raw = json.loads(Path(path or DATA_PATH).read_text(encoding="utf-8"))
    return parse_assistant_chat(raw)


def parse_assistant_chat(raw: dict[str, Any]) -> AssistantChat:
    """An :class:`AssistantChat` from the file's JSON object."""
    conversation = raw["conversation"]
    messages = [
        Message(
            id=m["id"],
            sender=m["name"],
            role=m["role"],
            content=m["content"],
            timestamp=m["timestamp"],
            metadata={"session": m["session"]},
        )
        for m in conversation["messages"]
    ]
    return AssistantChat(
        id=conversation["id"],
        title=raw.get("title", ""),
        user=conversation["user"],
        assistant=conversation["assistant"],
        user_details=conversation.get("user_details", {}),
        timezone=conversation.get("timezone", "UTC"),
        session_dates={s["id"]: s["date"] for s in conversation["sessions"]},
        messages=messages,
        truth=raw["truth"],
    )
