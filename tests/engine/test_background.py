"""Background mode: add returns once messages are stored and searchable; a worker cuts and extracts."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.models import Message

SCOPE = {"user_id": "ana"}
MESSAGES = [
    {
        "id": f"m{i}",
        "sender": "Ana" if i % 2 else "assistant",
        "content": text,
        "timestamp": f"2024-05-0{1 + i // 4}T10:0{i % 4}:00Z",
    }
    for i, text in enumerate(
        [
            "I moved to Lisbon last month.",
            "How do you like Lisbon?",
            "The tram up the hill is my favourite.",
            "Sounds lovely.",
            "I adopted a cat named Pixel.",
            "What colour is Pixel?",
            "Pixel is grey with white paws.",
            "Cute!",
        ]
    )
]


class HalvingDetector:
    """Cuts a buffer of four or more messages in the middle; blocks until released, if asked to."""

    def __init__(self, gate: threading.Event | None = None, *, broken: bool = False) -> None:
        self.gate = gate
        self.broken = broken
        self.entered = threading.Event()

    def cuts(self, messages: Sequence[Message], *, final: bool) -> list[int]:
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(10), "the test never released the detector"
        if self.broken:
            raise RuntimeError("the detector broke")
        return [len(messages) // 2] if len(messages) >= 4 else []


def test_add_returns_before_cutting_and_its_messages_are_searchable_at_once() -> None:
    gate = threading.Event()
    detector = HalvingDetector(gate)
    with EverMem(path=None, boundary_detector=detector, background=True) as mem:
        result = mem.add(MESSAGES, **SCOPE)
        assert detector.entered.wait(10)  # the worker is cutting, held up like a slow LLM call
        assert result.added == len(MESSAGES)
        assert result.memcells == []
        assert mem.stats(**SCOPE).memcells == 0
        found = mem.search("Where does Ana live?", method="keyword", **SCOPE)
        assert any("Lisbon" in item.text for item in found.items)
        second = mem.add({"id": "m8", "sender": "Ana", "content": "Pixel sleeps all day."}, **SCOPE)
        assert second.added == 1  # a cut under way does not hold up add
        gate.set()
        assert mem.wait(timeout=10)
        assert mem.stats(**SCOPE).memcells >= 1
        mem.flush(**SCOPE)
        cells = mem.get(kind="episode", limit=100, **SCOPE)
        assert sorted(i for c in cells for i in c.source_message_ids) == sorted([*(m["id"] for m in MESSAGES), "m8"])
        assert mem.stats(**SCOPE).buffered == 0


def test_pending_work_survives_a_restart(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with EverMem(path=tmp_path, boundary_detector=HalvingDetector(broken=True), background=True) as mem:
        mem.add(MESSAGES, **SCOPE)
        assert mem.wait(timeout=10)
        assert mem.stats(**SCOPE).buffered == len(MESSAGES)  # the cut failed: nothing is lost
    assert any("stay buffered" in r.getMessage() for r in caplog.records)
    with EverMem(path=tmp_path, boundary_detector=HalvingDetector(), background=True) as mem:
        assert mem.wait(timeout=10)  # the buffer left behind is cut on open, with no new add
        assert mem.stats(**SCOPE).memcells == 1
        assert mem.stats(**SCOPE).buffered == len(MESSAGES) // 2


def test_without_an_llm_add_cuts_inline_by_default() -> None:
    with EverMem(path=None, boundary_detector=HalvingDetector()) as mem:
        assert mem.add(MESSAGES, **SCOPE).memcells
        assert mem.wait()
