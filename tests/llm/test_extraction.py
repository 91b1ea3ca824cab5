"""LLM extraction replayed from cassettes: what reaches the model, what reaches the store."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.llm import LLMConfig, LLMExtractor

from .conftest import Replay, authored_only, replay
from .conversations import SUPPORT_GROUP

SCOPE = {"group_id": "caroline-melanie"}
CELL_IDS = [m["id"] for m in SUPPORT_GROUP]


def _ingest(config: LLMConfig) -> EverMem:
    mem = EverMem(path=None, llm=config)
    result = mem.add(SUPPORT_GROUP, **SCOPE)
    assert result.memcells == []  # eight messages are below the boundary batch: no call yet
    assert len(mem.flush(**SCOPE)) == 1
    return mem


def test_one_call_extracts_narrative_facts_foresight_and_profile(
    llm_config: Callable[..., LLMConfig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="evermem_integrations.engine.llm")
    with replay("extraction") as used:
        mem = _ingest(llm_config())
    assert isinstance(mem.extractor, LLMExtractor)
    assert mem.extractor.llm.calls == 1  # type: ignore[attr-defined]

    # What reached the model: every message with its real id, absolute time and sender.
    [request] = used.sent_for("ExtractionOutput")
    prompt = Replay.prompt(request)
    assert "Participants: Caroline, Melanie" in prompt
    assert "[c-5] | Mon 8 May 2023 14:01 | Melanie: No, we moved to Denver last month, the kids love it." in prompt
    assert all(f"[{i}]" in prompt for i in CELL_IDS)
    assert request["temperature"] == 0
    assert request["response_format"]["json_schema"]["strict"] is True

    [cell] = mem.get(kind="episode", **SCOPE)
    assert cell.title == "Caroline's support group and Melanie's move to Denver"
    assert "yesterday (7 May 2023)" in cell.episode
    assert cell.source_message_ids == CELL_IDS

    facts = {f.text: f for f in mem.get(kind="fact", **SCOPE)}
    assert "Melanie finished a painting of a sunset by the lake." in facts
    moved = facts["Melanie moved to Denver last month (April 2023) with Melanie's family."]
    assert (moved.attribute, moved.value) == ("residence", "Denver")
    assert moved.source_message_ids == ["c-5", "c-4"]  # the invented msg_999 is dropped
    assert "['msg_999', 'c-42']" in caplog.text
    assert moved.timestamp == datetime(2023, 5, 8, 14, 1, tzinfo=UTC)  # when it was said (latest source)
    painting = facts["Melanie finished a painting of a sunset by the lake."]
    assert painting.source_message_ids == ["c-3"]  # the model wrote "[c-3]"
    # A statement supported only by an id that is not in the episode is not stored.
    assert "Melanie has three children." not in facts
    assert "left out 1 statement(s) citing no message of the episode: ['Melanie has three children.']" in caplog.text
    assert all(set(f.source_message_ids) <= set(CELL_IDS) for f in facts.values())

    [plan] = mem.get(kind="foresight", **SCOPE)
    assert plan.text == "Caroline plans to go camping with friends next weekend (13-14 May 2023)."
    assert plan.start == datetime(2023, 5, 8, tzinfo=UTC)
    assert plan.end == datetime(2023, 5, 14, 23, 59, 59, 999999, tzinfo=UTC)  # "until 14 May" includes 14 May

    [melanie] = mem.get_profile("Melanie", current_time="2023-05-09", **SCOPE)
    assert {(t.attribute, t.value) for t in melanie.traits} == {("residence", "Denver"), ("likes", "painting")}
    [tired] = melanie.states
    assert (tired.value, tired.evidence) == ("tired", ["c-7"])
    assert tired.valid_until == datetime(2023, 5, 15, 14, 3, tzinfo=UTC)  # no end given: a state holds a week
    mem.close()


def test_search_finds_what_the_model_extracted(llm_config: Callable[..., LLMConfig]) -> None:
    with replay("extraction"):
        mem = _ingest(llm_config())
    result = mem.search("Where does Melanie live?", current_time="2023-05-09", **SCOPE)
    denver = [item for item in result.items[:3] if "Denver" in item.text]
    assert denver
    assert all(item.source_message_ids and set(item.source_message_ids) <= set(CELL_IDS) for item in denver)
    assert "Melanie moved to Denver last month (April 2023) with Melanie's family." in result.context
    mem.close()


@authored_only
def test_a_malformed_answer_is_repaired_once_then_the_offline_backend_takes_over(
    llm_config: Callable[..., LLMConfig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="evermem_integrations.engine.llm")
    with replay("malformed_extraction") as used:
        mem = _ingest(llm_config(max_retries=2, retry_wait=0))
    first, repair = used.sent_for("ExtractionOutput")  # one attempt and one repair, not a repeat
    assert mem.extractor.llm.calls == 2  # type: ignore[attr-defined]
    assert repair["messages"][: len(first["messages"])] == first["messages"]
    shown, correction = repair["messages"][len(first["messages"]) :]
    assert shown["role"] == "assistant"
    assert shown["content"].startswith('{"title"')  # the truncated answer, shown back
    assert correction["role"] == "user"
    assert "not valid" in correction["content"]
    assert "Invalid JSON" in correction["content"] or "EOF" in correction["content"]
    assert repair["temperature"] > first["temperature"]

    [fallback] = [r for r in caplog.records if "offline backend" in r.getMessage()]
    assert fallback.levelno == logging.WARNING
    assert "8 messages c-0..c-7" in fallback.getMessage()
    assert "no valid ExtractionOutput" in fallback.getMessage()

    # Nothing is lost: the episode exists with the offline backend's facts, from real messages.
    [cell] = mem.get(kind="episode", **SCOPE)
    assert cell.source_message_ids == CELL_IDS
    facts = mem.get(kind="fact", **SCOPE)
    assert any("Denver" in f.text and f.source_message_ids == ["c-5"] for f in facts)
    assert mem.stats(**SCOPE).buffered == 0
    mem.close()


@authored_only
def test_server_errors_are_retried(llm_config: Callable[..., LLMConfig], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="evermem_integrations.engine.llm")
    with replay("transport_retry") as used:
        mem = _ingest(llm_config(max_retries=2, retry_wait=0))
    assert len(used.sent) == 2
    assert any("HTTP 503" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records)
    assert not any("offline backend" in r.getMessage() for r in caplog.records)
    [cell] = mem.get(kind="episode", **SCOPE)
    assert cell.title == "Caroline's support group and Melanie's move to Denver"
    mem.close()


@authored_only
def test_a_refused_request_is_not_retried(
    llm_config: Callable[..., LLMConfig], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="evermem_integrations.engine.llm")
    with replay("refused_request") as used:
        mem = _ingest(llm_config(max_retries=3, retry_wait=0))
    assert len(used.sent) == 1  # HTTP 401: retrying cannot help
    [fallback] = [r for r in caplog.records if "offline backend" in r.getMessage()]
    assert "HTTP 401" in fallback.getMessage()
    assert "api_key" in fallback.getMessage()
    assert mem.get(kind="fact", **SCOPE)  # the offline backend extracted the episode
    mem.close()
