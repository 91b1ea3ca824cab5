"""What each endpoint accepts is negotiated once; refusals, failures and invalid answers cost little.

Against the fake server's request-shape modes: ``json_object_only`` answers like llama-cpp-python's
server (HTTP 500 ``literal_error`` for ``json_schema``), ``text_only`` takes no ``response_format``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.llm import BoundaryOutput, LLMConfig, OpenAIChatLLM
from evermem_integrations.engine.prompts import ChatMessage
from evermem_integrations.errors import ExtractionError, LLMPausedError, LLMRefusedError, LLMUnavailableError

from .conversations import THREE_TOPICS
from .fake_openai import FakeOpenAI, schema_of

PROMPT: list[ChatMessage] = [
    {"role": "system", "content": "Find the boundaries."},
    {"role": "user", "content": "0 | Mon 8 May 2023 13:56 | Jon: hi\n1 | x | Gina: hey"},
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        yield server


def config(fake: FakeOpenAI, mode: str, **overrides: object) -> LLMConfig:
    settings: dict[str, object] = {
        "base_url": fake.base_url(mode),
        "model": "fake-model",
        "api_key": "test",
        "retry_wait": 0.001,
        "retry_max_wait": 0.002,
        "timeout": 2.0,
    }
    return LLMConfig(**{**settings, **overrides})  # type: ignore[arg-type]


def sent(fake: FakeOpenAI, mode: str, start: int) -> list[dict[str, object]]:
    return [body for m, body in fake.bodies[start:] if m == mode]


def test_a_server_without_json_schema_is_asked_with_json_object_and_the_schema_from_then_on(fake: FakeOpenAI) -> None:
    start = len(fake.bodies)
    llm = OpenAIChatLLM(config(fake, "json_object_only"))
    assert isinstance(llm.complete(PROMPT, BoundaryOutput), BoundaryOutput)
    assert isinstance(llm.complete(PROMPT, BoundaryOutput), BoundaryOutput)
    llm.close()
    bodies = sent(fake, "json_object_only", start)
    kinds = [body["response_format"]["type"] for body in bodies]  # type: ignore[index]
    assert kinds == ["json_schema", "json_object", "json_object"]  # refused once, remembered
    assert llm.mode == "json_object"
    assert llm.refused == {"json_schema": 1}
    assert llm.accepted == {"json_object": 2}
    assert bodies[1]["response_format"]["schema"] == BoundaryOutput.model_json_schema()  # type: ignore[index]
    # Not OpenAI: the cap goes in max_tokens (llama.cpp ignores max_completion_tokens), per kind of call.
    assert all(body["max_tokens"] == BoundaryOutput.answer_tokens for body in bodies)
    assert not any("max_completion_tokens" in body for body in bodies)


def test_a_server_without_response_format_gets_the_schema_in_the_prompt(fake: FakeOpenAI) -> None:
    start = len(fake.bodies)
    llm = OpenAIChatLLM(config(fake, "text_only", max_completion_tokens=50))
    assert isinstance(llm.complete(PROMPT, BoundaryOutput), BoundaryOutput)
    llm.close()
    bodies = sent(fake, "text_only", start)
    assert [bool(body.get("response_format")) for body in bodies] == [True, True, False]
    assert llm.mode == "prompt"
    system = bodies[-1]["messages"][0]["content"]  # type: ignore[index]
    assert system.startswith("Find the boundaries.")
    assert '"new_episode_starts"' in system
    assert schema_of(bodies[-1]) == "BoundaryOutput"
    assert bodies[-1]["max_tokens"] == 50


def test_a_refused_shape_is_told_apart_from_an_unreachable_server(fake: FakeOpenAI) -> None:
    pinned = OpenAIChatLLM(config(fake, "json_object_only", response_format="json_schema"))
    with pytest.raises(LLMRefusedError, match="refused the request shape"):
        pinned.complete(PROMPT, BoundaryOutput)
    assert pinned.calls == 1  # a refusal is not retried
    down = OpenAIChatLLM(config(fake, "ok", base_url="http://127.0.0.1:9/v1", max_retries=1))
    with pytest.raises(LLMUnavailableError, match="could not be reached") as caught:
        down.complete(PROMPT, BoundaryOutput)
    assert not isinstance(caught.value, LLMRefusedError)


def test_every_attempt_is_counted_in_tokens(fake: FakeOpenAI) -> None:
    llm = OpenAIChatLLM(config(fake, "wrong_schema_json"))
    with pytest.raises(ExtractionError):
        llm.complete(PROMPT, BoundaryOutput)
    assert llm.calls == 2  # the answer and one repair
    assert (llm.prompt_tokens, llm.completion_tokens) == (20, 10)  # the fake reports 10 + 5 per answer


def test_a_failing_endpoint_is_left_alone_after_a_few_requests(
    fake: FakeOpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="evermem_integrations")
    messages = THREE_TOPICS[:40]
    start = fake.requests["http_500"]
    with EverMem(path=None, llm=config(fake, "http_500")) as mem:
        for message in messages:  # one add per message, as a chat app does
            mem.add(message, group_id="g")
        mem.flush(group_id="g")
        assert mem.search("dance studio", method="agentic", group_id="g").items
        assert mem.stats(group_id="g").facts > 0  # the offline backend stood in
        llm = mem.extractor.llm  # type: ignore[attr-defined]
        with pytest.raises(LLMPausedError):
            llm.complete(PROMPT, BoundaryOutput)
    asked = fake.requests["http_500"] - start
    assert asked / len(messages) <= 0.3
    opened = [r.getMessage() for r in caplog.records if "requests in a row" in r.getMessage()]
    assert len(opened) == 1  # one warning, not one per call


def test_the_breaker_tries_again_after_its_cooldown(fake: FakeOpenAI) -> None:
    llm = OpenAIChatLLM(config(fake, "http_500", breaker_failures=2, breaker_cooldown=0.05, max_retries=1))
    with pytest.raises(LLMUnavailableError):
        llm.complete(PROMPT, BoundaryOutput)
    with pytest.raises(LLMPausedError):
        llm.complete(PROMPT, BoundaryOutput)
    calls = llm.calls
    llm.client = OpenAIChatLLM(config(fake, "ok")).client  # the endpoint recovers
    time.sleep(0.06)
    assert isinstance(llm.complete(PROMPT, BoundaryOutput), BoundaryOutput)
    assert llm.calls == calls + 1
