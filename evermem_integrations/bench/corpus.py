"""The benchmark's neutral view of a dataset: conversations of turns, and questions about them.

LoCoMo and LongMemEval are both turned into :class:`BenchConversation` so that one runner,
one set of baselines and one metric serve both. A turn keeps what was said apart from how a
raw-turn baseline renders it (``[session date] speaker: text``), because evidence recall
checks the words of what was said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from evermem_integrations.engine.models import Message
from evermem_integrations.engine.timeparse import format_day


@dataclass(frozen=True)
class BenchTurn:
    """One turn of a conversation as the raw-turn baselines see it."""

    id: str
    speaker: str
    text: str
    timestamp: datetime
    session_date: datetime
    caption: str | None = None

    @classmethod
    def of(cls, message: Message, session_date: datetime, caption: str | None = None) -> BenchTurn:
        """The turn of ``message``, said in the session of ``session_date``."""
        return cls(message.id, message.sender, message.content, message.timestamp, session_date, caption)

    @property
    def body(self) -> str:
        """What is indexed: the speaker, the words, and the image caption when present."""
        extra = f" [shared an image: {self.caption}]" if self.caption else ""
        return f"{self.speaker}: {self.text}{extra}"

    @property
    def line(self) -> str:
        """How a raw-turn baseline renders the turn in its context."""
        return f"[{format_day(self.session_date)}] {self.body}"


@dataclass(frozen=True)
class BenchQuestion:
    """One question with its gold answer and gold evidence turn ids."""

    id: str
    question: str
    answer: str | None
    category: str
    evidence: list[str]
    current_time: datetime
    unknown_evidence: list[str] = field(default_factory=list)


@dataclass
class BenchConversation:
    """A conversation (what gets ingested) and the questions asked about it."""

    id: str
    messages: list[Message]
    turns: list[BenchTurn]
    questions: list[BenchQuestion]

    @cached_property
    def turn_texts(self) -> dict[str, str]:
        """Turn id -> what was said (the words evidence recall looks for)."""
        return {t.id: t.text for t in self.turns}
