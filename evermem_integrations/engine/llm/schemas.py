"""What each prompt must answer (response models), and how messages are shown to the model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, Field, field_validator

from evermem_integrations.engine.extraction import (
    message_text,
)
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.timeparse import format_day

logger = logging.getLogger(__name__)


_BOUNDARY_CHARS = 400
"""Boundary detection sees at most this much of each message: the topic, not every word."""


# -- response models: what each prompt must answer (sent as strict JSON schemas) -----------------
class LLMFact(BaseModel):
    """One atomic fact as the model states it."""

    subject: str = Field(description="the person the fact is about, by name")
    text: str = Field(description="one self-contained statement, third person, absolute dates")
    source_message_ids: list[str] = Field(description="ids of the messages that state it")
    attribute: str | None = Field(description="key of a single-valued property (residence, occupation), else null")
    value: str | None = Field(description="the property's value, else null")


class LLMForesight(BaseModel):
    """A plan or temporary situation with its validity."""

    subject: str
    text: str
    start: str = Field(description="ISO date from which it holds")
    end: str | None = Field(description="ISO date until which it holds, or null")
    source_message_ids: list[str]


class LLMProfileStatement(BaseModel):
    """Something the episode reveals about a participant."""

    subject: str
    category: str = Field(description="'trait' (stable) or 'state' (temporary)")
    attribute: str
    value: str
    text: str
    source_message_ids: list[str]
    valid_until: str | None = Field(description="for a state: ISO date until which it holds, or null")
    multi_valued: bool

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str) -> str:
        category = value.strip().lower()
        if category not in ("trait", "state"):
            raise ValueError("category must be 'trait' or 'state'")
        return category


class ExtractionOutput(BaseModel):
    """The memory of one episode."""

    answer_tokens: ClassVar[int] = 1500
    """Answer cap: a dozen facts with their sources fit well within it."""

    title: str
    episode: str
    facts: list[LLMFact]
    foresight: list[LLMForesight]
    profile: list[LLMProfileStatement]

    @field_validator("title", "episode")
    @classmethod
    def _non_empty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value.strip()


class BoundaryOutput(BaseModel):
    """Where new episodes start in a numbered list of messages."""

    answer_tokens: ClassVar[int] = 96
    """Answer cap: a few message numbers fit well within it."""

    new_episode_starts: list[int] = Field(description="numbers of the messages that start a new episode")


class SufficiencyOutput(BaseModel):
    """Whether retrieved memories answer a question, and what to search for if not."""

    answer_tokens: ClassVar[int] = 256
    """Answer cap: a verdict and three short queries fit well within it."""

    sufficient: bool
    missing: str
    queries: list[str]


class RewriteOutput(BaseModel):
    """New search queries for what is missing."""

    answer_tokens: ClassVar[int] = 160
    """Answer cap: three short queries fit well within it."""

    queries: list[str]

    @field_validator("queries")
    @classmethod
    def _some_queries(cls, value: list[str]) -> list[str]:
        queries = list(dict.fromkeys(q.strip() for q in value if q.strip()))
        if not queries:
            raise ValueError("give at least one query")
        return queries


# -- rendering messages for prompts ------------------------------------------------------------------
def moment_label(timestamp: datetime) -> str:
    """``Mon 8 May 2023 13:56``: how a message's time is shown to the model."""
    return f"{timestamp.strftime('%a')} {format_day(timestamp)} {timestamp.strftime('%H:%M')}"


def transcript(messages: Sequence[Message]) -> str:
    """``[id] | Mon 8 May 2023 13:56 | Caroline: text`` lines, one per message."""
    return "\n".join(f"[{m.id}] | {moment_label(m.timestamp)} | {m.sender}: {message_text(m)}" for m in messages)


def numbered_transcript(messages: Sequence[Message]) -> str:
    """``3 | Mon 8 May 2023 13:56 | Caroline: text`` lines, numbered from 0, texts shortened."""
    lines = []
    for number, m in enumerate(messages):
        text = " ".join(message_text(m).split())
        if len(text) > _BOUNDARY_CHARS:
            text = text[:_BOUNDARY_CHARS] + " ..."
        lines.append(f"{number} | {moment_label(m.timestamp)} | {m.sender}: {text}")
    return "\n".join(lines)
