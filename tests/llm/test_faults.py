"""Answers of every shape from a misbehaving endpoint: nothing escapes, nothing stays buffered.

A fake OpenAI-compatible server on 127.0.0.1 (:mod:`tests.llm.fake_openai`) breaks its answers
in one way per fault mode: HTTP errors, 200s that are no chat.completion (HTML, plain text,
empty, invalid UTF-8, truncated JSON), completions of the wrong shape, contents that are not
the requested object, invented message ids, slow answers and dropped connections. For each,
``add``, ``flush`` and agentic ``search`` must finish, every message must end in a MemCell
with facts (the LLM's, or the offline backend's when the LLM's answer was unusable), and a
warning must say what happened.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.embeddings import StaticEmbedder
from evermem_integrations.engine.llm import BoundaryOutput, LLMConfig, OpenAIChatLLM
from evermem_integrations.engine.prompts import ChatMessage
from evermem_integrations.errors import ExtractionError, LLMUnavailableError

from .conversations import THREE_TOPICS
from .fake_openai import FAULT_MODES, SLOW_SECONDS, FakeOpenAI

# openai's client re-serialises a completion of the wrong shape before it is rejected.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

SCOPE = {"group_id": "jon-gina"}
MESSAGES = THREE_TOPICS[:30]
IDS = [m["id"] for m in MESSAGES]
TIMEOUT = 2.0
SLOW_TIMEOUT = 0.1  # for slow_past_timeout: every attempt times out, quickly
assert SLOW_SECONDS > 2 * SLOW_TIMEOUT

# Modes whose answer is usable as it is (possibly after a retry or unwrapping): the LLM's facts stay.
LLM_ANSWER_USED = {
    "ok",
    "http_503_then_ok",
    "json_object_only",
    "text_only",
    "json_in_markdown_fence",
    "some_unknown_message_ids",
    "usage_garbage",
    "wild_values",
}
# Nothing went wrong that a user should hear of: no warning expected.
SILENT = {"ok", "json_in_markdown_fence", "usage_garbage", "wild_values"}
FAULTS = sorted(set(FAULT_MODES) - {"ok"})


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


@pytest.fixture(scope="module")
def embedder() -> StaticEmbedder:
    """One embedding model for every engine of the module (loading it is most of an engine's start)."""
    return StaticEmbedder()


def config(fake: FakeOpenAI, mode: str) -> LLMConfig:
    return LLMConfig(
        base_url=fake.base_url(mode),
        model="fake-model",
        api_key="test",
        max_retries=1,
        retry_wait=0.001,
        retry_max_wait=0.002,
        timeout=SLOW_TIMEOUT if mode == "slow_past_timeout" else TIMEOUT,
    )


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("evermem_integrations")
    ]


def test_there_are_enough_fault_modes() -> None:
    assert len(FAULTS) >= 15


@pytest.mark.parametrize("mode", ["ok", *FAULTS])
def test_add_flush_and_agentic_search_survive(fake: FakeOpenAI, mode: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with EverMem(path=None, llm=config(fake, mode)) as mem:
        first = mem.add(MESSAGES[:15], **SCOPE)
        second = mem.add(MESSAGES[15:], **SCOPE)
        assert first.added + second.added == len(MESSAGES)
        mem.flush(**SCOPE)

        stats = mem.stats(**SCOPE)
        assert stats.buffered == 0
        assert mem.get(kind="raw", **SCOPE) == []
        cells = mem.get(kind="episode", limit=100, **SCOPE)
        assert sorted(i for c in cells for i in c.source_message_ids) == sorted(IDS)
        assert stats.facts > 0
        facts = mem.get(kind="fact", limit=1000, **SCOPE)
        assert all(set(f.source_message_ids) <= set(IDS) for f in facts)
        from_llm = [f for f in facts if " said: " in f.text]  # the fake model's wording
        if mode in LLM_ANSWER_USED:
            assert from_llm, "the model's usable facts were replaced"
        else:
            assert not from_llm

        result = mem.search("Where will the dance studio be?", method="agentic", **SCOPE)
        assert result.items
        assert result.context

    assert fake.requests[mode] > 0  # the endpoint was really asked
    logged = warnings(caplog)
    if mode in SILENT:
        assert logged == []
    else:
        assert logged, f"no warning logged for {mode}"


PROMPT: list[ChatMessage] = [{"role": "user", "content": "0 | Mon 8 May 2023 13:56 | Jon: hi\n1 | x | Gina: hey"}]


@pytest.mark.parametrize("mode", ["ok", *FAULTS])
def test_the_client_answers_valid_or_raises_a_typed_error(fake: FakeOpenAI, mode: str) -> None:
    schema = BoundaryOutput
    llm = OpenAIChatLLM(config(fake, mode))
    try:
        answer: object = llm.complete(PROMPT, schema)
    except (ExtractionError, LLMUnavailableError) as exc:
        answer = exc
    finally:
        llm.close()
    if mode in LLM_ANSWER_USED:
        assert isinstance(answer, schema)
    else:
        assert isinstance(answer, schema | ExtractionError | LLMUnavailableError)
    assert llm.calls >= 1


def test_the_fake_answers_what_the_package_asks_in_ok_mode(fake: FakeOpenAI, embedder: StaticEmbedder) -> None:
    """Mode ``ok`` is a well-behaved model: its cuts and facts are used, nothing falls back."""
    start = len(fake.bodies)
    with EverMem(path=None, llm=config(fake, "ok"), embedder=embedder) as mem:
        mem.add(MESSAGES, **SCOPE)
        mem.flush(**SCOPE)
        result = mem.search("Where will the dance studio be?", method="agentic", **SCOPE)
        cells = mem.get(kind="episode", limit=100, **SCOPE)
        facts = mem.get(kind="fact", limit=1000, **SCOPE)
    sent = [body for mode, body in fake.bodies[start:] if mode == "ok"]
    schemas = {body["response_format"]["json_schema"]["name"] for body in sent}
    assert {"BoundaryOutput", "ExtractionOutput", "SufficiencyOutput"} <= schemas
    assert all(body["response_format"]["json_schema"]["strict"] is True for body in sent)
    assert len(cells) == 2  # the fake cuts a 30-message stretch in the middle
    assert facts
    assert all(" said: " in f.text for f in facts)
    assert result.rounds == 2  # the fake judges the first round insufficient and drafts queries
