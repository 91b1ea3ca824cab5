"""Batch boundary detection: one call over many buffered messages, a fraction of a call per message."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from evermem_integrations import EverMem
from evermem_integrations.datasets import LocomoConversation
from evermem_integrations.engine.llm import (
    BoundaryOutput,
    ExtractionOutput,
    LLMBoundaryDetector,
    LLMConfig,
    OpenAIChatLLM,
)
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.prompts import BOUNDARY_CLOSED_NOTE, BOUNDARY_OPEN_TAIL_NOTE, ChatMessage
from evermem_integrations.engine.segmentation import OfflineBoundaryDetector, SegmentationConfig
from evermem_integrations.errors import ExtractionError

from .conftest import Replay, replay
from .conversations import THREE_TOPICS

SCOPE = {"group_id": "jon-gina"}


def _ingest_one_by_one(config: LLMConfig) -> tuple[EverMem, list[list[str]]]:
    mem = EverMem(path=None, llm=config, background=False)  # cuts as each add arrives
    cut_after: list[list[str]] = []
    for message in THREE_TOPICS:
        cut_after.append(mem.add(message, **SCOPE).memcells)
    mem.flush(**SCOPE)
    return mem, cut_after


def _numbered_lines(body: dict[str, Any]) -> list[str]:
    return [line for line in Replay.prompt(body).splitlines() if line[:1].isdigit() and " | " in line]


def test_one_call_over_a_batch_finds_the_topic_shifts(llm_config: Callable[..., LLMConfig]) -> None:
    with replay("batch_boundaries") as used:
        mem, cut_after = _ingest_one_by_one(llm_config())

    cells = mem.get(kind="episode", **SCOPE)
    assert [c.source_message_ids for c in cells] == [
        [f"d-{i}" for i in range(0, 14)],
        [f"d-{i}" for i in range(14, 28)],
        [f"d-{i}" for i in range(28, 40)],
    ]
    assert [c.title for c in cells] == [
        "Jon opens a dance studio",
        "Gina's online clothing store",
        "Jon's trip to Paris",
    ]
    # Cells close as the conversation goes: the studio episode when message d-19 arrives,
    # the store episode when d-29 does.
    assert [i for i, cells_cut in enumerate(cut_after) if cells_cut] == [19, 29]

    # What reached the model: four batches, not forty single messages.
    batches = used.sent_for("BoundaryOutput")
    assert [len(_numbered_lines(b)) for b in batches] == [10, 20, 16, 12]
    first, _, third, _ = batches
    assert (
        _numbered_lines(first)[0] == "0 | Sat 20 May 2023 10:00 | Jon: Hey Gina, long time no see! How have you been?"
    )
    assert _numbered_lines(third)[0].startswith("0 | Sat 20 May 2023 10:14 | Gina: Speaking of fabric")
    assert all(BOUNDARY_OPEN_TAIL_NOTE in Replay.prompt(b) for b in batches)
    # Each extraction saw exactly the messages of its MemCell.
    extractions = used.sent_for("ExtractionOutput")
    for cell, request in zip(cells, extractions, strict=True):
        prompt = Replay.prompt(request)
        assert all(f"[{i}]" in prompt for i in cell.source_message_ids)
        assert prompt.count("\n[d-") + prompt.startswith("[d-") == len(cell.messages)
    mem.close()


def test_ingestion_costs_at_most_0_3_calls_per_message(llm_config: Callable[..., LLMConfig]) -> None:
    with replay("batch_boundaries") as used:
        mem, _ = _ingest_one_by_one(llm_config())
    llm = mem.extractor.llm  # type: ignore[attr-defined]
    assert isinstance(llm, OpenAIChatLLM)
    assert llm.calls == len(used.sent) == 7  # 4 boundary batches + 3 extractions
    assert llm.calls / len(THREE_TOPICS) <= 0.3
    assert llm.prompt_tokens == 7 * 900  # usage reported by the endpoint is summed
    mem.close()


# -- the detector's rules, with a scripted model that records what it was shown -------------------------------
class ScriptedLLM:
    """Answers boundary prompts from a script and keeps every prompt it saw."""

    def __init__(self, *answers: list[int] | Exception) -> None:
        self.answers = list(answers)
        self.prompts: list[str] = []

    def complete(self, messages: Sequence[ChatMessage], response_model: type[Any]) -> Any:
        assert response_model is BoundaryOutput
        self.prompts.append(messages[-1]["content"])
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return BoundaryOutput(new_episode_starts=answer)


def _messages(count: int, *, start: datetime | None = None, every: timedelta = timedelta(minutes=1)) -> list[Message]:
    start = start or datetime(2023, 5, 8, 10, tzinfo=UTC)
    return [
        Message(
            id=f"m{i}",
            sender="Ann" if i % 2 else "Bob",
            content=f"message number {i} about gardening plans",
            timestamp=start + i * every,
        )
        for i in range(count)
    ]


def _detector(llm: ScriptedLLM, **config: Any) -> LLMBoundaryDetector:
    offline = OfflineBoundaryDetector(
        lambda texts: pytest.fail("the offline topic rule must not run"), SegmentationConfig(**config)
    )
    return LLMBoundaryDetector(llm, offline, batch=10, window=60)  # type: ignore[arg-type]


def test_no_call_until_a_batch_is_buffered_and_none_for_what_was_seen() -> None:
    llm = ScriptedLLM([])
    detector = _detector(llm)
    messages = _messages(15)
    for n in range(1, 10):
        assert detector.cuts(messages[:n], final=False) == []
    assert llm.prompts == []
    assert detector.cuts(messages[:10], final=False) == []
    assert len(llm.prompts) == 1
    for n in range(11, 16):  # fewer than ten new messages since the last look
        assert detector.cuts(messages[:n], final=False) == []
    assert len(llm.prompts) == 1


def test_time_gaps_cut_without_a_call_and_short_pieces_are_not_sent() -> None:
    llm = ScriptedLLM()
    detector = _detector(llm)
    morning = _messages(5)
    evening = _messages(4, start=datetime(2023, 5, 8, 20, tzinfo=UTC))
    assert detector.cuts([*morning, *evening], final=True) == [5]
    assert llm.prompts == []  # each sitting is too short to hold two episodes


def test_caps_apply_after_the_models_cuts_and_short_episodes_are_refused() -> None:
    llm = ScriptedLLM([3, 20, 37])
    detector = _detector(llm, max_messages=12)
    cuts = detector.cuts(_messages(40), final=True)
    # 3 would leave a 3-message episode and 37 a 3-message tail: both refused. 20 stands;
    # the 12-message cap then splits both halves.
    assert cuts == [12, 20, 32]
    assert BOUNDARY_CLOSED_NOTE in llm.prompts[0]


def test_a_failing_model_falls_back_to_the_offline_detector(caplog: pytest.LogCaptureFixture) -> None:
    llm = ScriptedLLM(ExtractionError("no valid BoundaryOutput in 4 attempts"))
    same_topic = lambda texts: np.ones((len(texts), 4), dtype=np.float32) / 2  # noqa: E731
    offline = OfflineBoundaryDetector(same_topic, SegmentationConfig(min_messages=7))
    detector = LLMBoundaryDetector(llm, offline, batch=10)  # type: ignore[arg-type]
    morning, evening = _messages(14), _messages(3, start=datetime(2023, 5, 8, 20, tzinfo=UTC))
    with caplog.at_level(logging.WARNING, logger="evermem_integrations.engine.llm"):
        assert detector.cuts([*morning, *evening], final=False) == [14]
    assert len(llm.prompts) == 1  # the closed morning could hold two episodes: the model was asked
    assert "LLM boundary detection failed over 17 buffered messages" in caplog.text
    assert "using the offline detector" in caplog.text


class EagerLLM:
    """The costliest model for the budget: it proposes a new episode every six messages."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {"BoundaryOutput": 0, "ExtractionOutput": 0}

    def complete(self, messages: Sequence[ChatMessage], response_model: type[Any]) -> Any:
        self.calls[response_model.__name__] += 1
        prompt = messages[-1]["content"]
        if response_model is BoundaryOutput:
            count = sum(1 for line in prompt.splitlines() if line[:1].isdigit() and " | " in line)
            return BoundaryOutput(new_episode_starts=list(range(6, count, 6)))
        first_id = prompt.split("\n[", 1)[1].split("]", 1)[0]
        fact = {"subject": "x", "text": "x said it", "source_message_ids": [first_id], "attribute": None, "value": None}
        return ExtractionOutput.model_validate(
            {"title": "t", "episode": "e", "facts": [fact], "foresight": [], "profile": []}
        )


def test_the_budget_holds_on_real_sessions_even_with_an_eager_model(locomo: list[LocomoConversation]) -> None:
    conversation = locomo[0]
    sessions = sorted({m.timestamp.date() for m in conversation.messages})[:5]
    messages = [m for m in conversation.messages if m.timestamp.date() in sessions]
    llm = EagerLLM()
    mem = EverMem(path=None, llm=llm)
    for message in messages:  # one at a time, as a chat app would
        mem.add(message, group_id="locomo")
    mem.flush(group_id="locomo")
    stats = mem.stats(group_id="locomo")
    assert stats.buffered == 0
    assert stats.memcells == llm.calls["ExtractionOutput"]  # one extraction call per MemCell
    assert sum(llm.calls.values()) / len(messages) <= 0.3
    mem.close()
