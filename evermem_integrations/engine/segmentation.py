"""Phase I, part one: cutting the message stream into episodes.

The offline detector follows the reference design's signals: a long silence or a new
calendar day is a strong boundary, hard caps on messages and tokens force a cut, and
inside a sitting a drop in embedding similarity between the messages before and after a
point marks a topic shift (TextTiling-style, on the bundled embedding model). Small talk
(greetings, thanks, farewells) never starts an episode: it stays with the one it closes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol

import numpy as np
from pydantic import BaseModel, Field

from evermem_integrations.engine.models import Message
from evermem_integrations.engine.text import content_words
from evermem_integrations.engine.tokens import count_tokens


class SegmentationConfig(BaseModel):
    """Boundary detection settings (the defaults suit chat; tune per model and domain)."""

    max_gap: timedelta = Field(default=timedelta(hours=2), description="a longer silence always cuts")
    cut_on_new_day: bool = True
    max_messages: int = Field(default=50, ge=2, description="hard cap on messages per MemCell")
    max_tokens: int = Field(default=8192, ge=64, description="hard cap on tokens per MemCell")
    min_messages: int = Field(default=6, ge=1, description="no topic cut leaves a shorter episode")
    window: int = Field(default=3, ge=1, description="messages on each side compared for a topic shift")
    topic_shift_threshold: float = Field(
        default=0.70,
        description="cut where window similarity falls below this (model-dependent; 0.70 is about the 3rd "
        "percentile of within-session windows on LoCoMo with the bundled model)",
    )


class BoundaryDetector(Protocol):
    """Finds where the buffered messages should be cut into MemCells."""

    def cuts(self, messages: Sequence[Message], *, final: bool) -> list[int]:
        """Indices where a new MemCell starts (ascending, each in ``1..len-1``).

        With ``final`` the caller will close the tail as a MemCell anyway; without it, the
        messages after the last cut stay buffered until more arrive.
        """
        ...


def is_small_talk(message: Message) -> bool:
    """Greetings, thanks and farewells: too little content to open an episode."""
    return len(content_words(message.content)) < 2


class OfflineBoundaryDetector:
    """Time gaps, hard caps and embedding topic shifts; deterministic and LLM-free."""

    def __init__(self, embed: EmbedFunction, config: SegmentationConfig | None = None) -> None:
        self.embed = embed
        self.config = config or SegmentationConfig()

    def cuts(self, messages: Sequence[Message], *, final: bool) -> list[int]:
        """See :class:`BoundaryDetector`."""
        if len(messages) < 2:
            return []
        hard = self._time_cuts(messages)
        cuts: list[int] = []
        starts = [0, *hard]
        ends = [*hard, len(messages)]
        for start, end in zip(starts, ends, strict=True):
            is_open_tail = end == len(messages) and not final
            cuts.extend(self._topic_cuts(messages, start, end, is_open_tail))
            if end != len(messages):
                cuts.append(end)
        return sorted(set(self._apply_caps(messages, sorted(set(cuts)))))

    def _time_cuts(self, messages: Sequence[Message]) -> list[int]:
        cuts = []
        for i in range(1, len(messages)):
            before, after = messages[i - 1].timestamp, messages[i].timestamp
            if after - before > self.config.max_gap or (self.config.cut_on_new_day and after.date() != before.date()):
                cuts.append(i)
        return cuts

    def _topic_cuts(self, messages: Sequence[Message], start: int, end: int, open_tail: bool) -> list[int]:
        config = self.config
        if end - start < 2 * config.min_messages:
            return []
        vectors = self.embed([m.content for m in messages[start:end]])
        cuts, last = [], start
        # In an open tail a cut needs a full window after it: later messages may still belong.
        limit = end - (config.window if open_tail else config.min_messages)
        for i in range(start + config.min_messages, limit + 1):
            if i - last < config.min_messages or is_small_talk(messages[i]):
                continue
            left = vectors[max(i - config.window, last) - start : i - start].mean(axis=0)
            right = vectors[i - start : min(i + config.window, end) - start].mean(axis=0)
            similarity = float(left @ right / (np.linalg.norm(left) * np.linalg.norm(right) + 1e-9))
            if similarity < config.topic_shift_threshold:
                cuts.append(i)
                last = i
        return cuts

    def _apply_caps(self, messages: Sequence[Message], cuts: list[int]) -> list[int]:
        capped, start = [], 0
        for boundary in [*cuts, len(messages)]:
            tokens, count = 0, 0
            for i in range(start, boundary):
                tokens += count_tokens(messages[i].content)
                count += 1
                if i > start and (count > self.config.max_messages or tokens > self.config.max_tokens):
                    capped.append(i)
                    tokens, count = count_tokens(messages[i].content), 1
            if boundary != len(messages):
                capped.append(boundary)
            start = boundary
        return capped


class EmbedFunction(Protocol):
    """``texts -> normalised vectors``."""

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``."""
        ...
