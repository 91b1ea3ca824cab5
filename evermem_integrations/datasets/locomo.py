"""The LoCoMo benchmark format (snap-research/locomo ``locomo10.json`` and subsets of it).

Each conversation becomes EverMem messages: the turn's ``dia_id`` is the message id (so
evidence ids map to ``source_message_ids`` directly), the session's date is the time, and
turns of a session are spaced 30 seconds apart to keep their order. An image turn keeps
its ``blip_caption`` in ``metadata["image_caption"]``.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from evermem_integrations.engine.models import Message
from evermem_integrations.engine.timeparse import parse_timestamp

TURN_SPACING = timedelta(seconds=30)
CATEGORY_NAMES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}


class LocomoQuestion(BaseModel):
    """One QA pair; ``answer`` is None for the adversarial category."""

    question: str
    answer: str | None
    evidence: list[str] = Field(default_factory=list)
    category: int


class LocomoConversation(BaseModel):
    """A LoCoMo conversation as messages plus its questions."""

    sample_id: str
    speakers: tuple[str, str]
    messages: list[Message]
    questions: list[LocomoQuestion]
    session_dates: dict[int, datetime]


def load_locomo(path: str | Path, conversations: list[str] | None = None) -> list[LocomoConversation]:
    """Read a LoCoMo JSON file; ``conversations`` keeps only those sample ids."""
    raw = json.loads(Path(path).read_text(encoding="utf-8"))
    if isinstance(raw, dict):
        raw = [raw]
    loaded = [_conversation(item) for item in raw if not conversations or item["sample_id"] in conversations]
    if conversations:
        missing = set(conversations) - {c.sample_id for c in loaded}
        if missing:
            raise ValueError(f"conversations not in {path}: {sorted(missing)}")
    return loaded


def _conversation(item: dict[str, Any]) -> LocomoConversation:
    conv = item["conversation"]
    messages: list[Message] = []
    dates: dict[int, datetime] = {}
    sessions = sorted(int(m.group(1)) for key in conv if (m := re.fullmatch(r"session_(\d+)", key)))
    for number in sessions:
        turns = conv.get(f"session_{number}") or []
        stamp = conv.get(f"session_{number}_date_time")
        if not turns or not stamp:
            continue  # some date keys have no session and vice versa
        start = parse_timestamp(stamp)
        dates[number] = start
        for index, turn in enumerate(turns):
            metadata: dict[str, Any] = {"session": number}
            if turn.get("blip_caption"):
                metadata["image_caption"] = turn["blip_caption"]
            messages.append(
                Message(
                    id=turn["dia_id"],
                    sender=turn["speaker"],
                    content=turn.get("text") or f"[shared an image: {turn.get('blip_caption', 'image')}]",
                    timestamp=start + index * TURN_SPACING,
                    metadata=metadata,
                )
            )
    questions = [
        LocomoQuestion(
            question=q["question"],
            answer=None if q.get("answer") is None else str(q["answer"]),
            evidence=[e for e in q.get("evidence", []) if isinstance(e, str)],
            category=int(q["category"]),
        )
        for q in item.get("qa", [])
    ]
    return LocomoConversation(
        sample_id=item["sample_id"],
        speakers=(conv["speaker_a"], conv["speaker_b"]),
        messages=messages,
        questions=questions,
        session_dates=dates,
    )
