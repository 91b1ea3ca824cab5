"""Agentic search: a sufficiency check, rewritten queries and a fused second round."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from vcr.errors import CannotOverwriteExistingCassetteException

from evermem_integrations import EverMem
from evermem_integrations.engine.llm import LLMConfig, LLMQueryPlanner, OpenAIChatLLM, RewriteOutput, SufficiencyOutput
from evermem_integrations.engine.prompts import ChatMessage
from evermem_integrations.errors import LLMUnavailableError

from .conftest import RECORDER, REPLAY_BASE_URL, Replay, authored_only, replay
from .conversations import SUPPORT_GROUP

SCOPE = {"user_id": "caroline"}
CAMPING = "When is Caroline going camping, and with whom?"


def test_insufficient_context_triggers_rewrites_and_a_second_round(llm_config: Callable[..., LLMConfig]) -> None:
    with replay("agentic_search") as used:
        mem = EverMem(path=None, llm=llm_config())
        mem.add(SUPPORT_GROUP, **SCOPE)
        mem.flush(**SCOPE)
        first_round = mem.search(CAMPING, method="hybrid", current_time="2023-05-09", **SCOPE)
        result = mem.search(CAMPING, method="agentic", current_time="2023-05-09", **SCOPE)
        enough = mem.search("Where does Melanie live?", method="agentic", current_time="2023-05-09", **SCOPE)

    assert result.rounds == 2
    assert result.queries == [
        CAMPING,
        "Who is Caroline going camping with?",
        "Caroline plans to go camping with friends next weekend (13-14 May 2023).",
        "Caroline's plans for the weekend of 13-14 May 2023",
    ]
    assert any("camping with friends" in item.text for item in result.items)
    assert all(item.source_message_ids for item in result.items)
    # One call judged the first round and drafted the rewrites (no separate rewrite call).
    check, second_check = used.sent_for("SufficiencyOutput")
    assert used.sent_for("RewriteOutput") == []
    prompt = Replay.prompt(check)
    assert prompt.startswith(f"Question: {CAMPING}")
    assert first_round.context in prompt  # the model judged exactly what the first round found

    assert enough.rounds == 1
    assert enough.queries == ["Where does Melanie live?"]
    assert "Question: Where does Melanie live?" in Replay.prompt(second_check)
    assert mem.extractor.llm.calls == 3  # type: ignore[attr-defined]  # extraction + two checks
    mem.close()


def test_vcr_intercepts_the_openai_client() -> None:
    """A request the cassette does not hold is refused by vcr, not sent to the (closed) port."""
    llm = OpenAIChatLLM(LLMConfig(base_url=REPLAY_BASE_URL, model="gpt-4.1-mini", api_key="test", max_retries=0))
    with (
        RECORDER.use_cassette("extraction.yaml", record_mode="none"),
        pytest.raises(CannotOverwriteExistingCassetteException),
    ):
        LLMQueryPlanner(llm).check("anything?", "- a memory")
    # Outside a cassette the same request really goes to 127.0.0.1:9, where nothing listens.
    with pytest.raises(LLMUnavailableError, match="check that the endpoint is up"):
        llm.complete([{"role": "user", "content": "hi"}], SufficiencyOutput)


class FailingLLM:
    def complete(self, messages: Sequence[ChatMessage], response_model: type[Any]) -> Any:
        raise LLMUnavailableError("endpoint down")


class RewriteLLM:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def complete(self, messages: Sequence[ChatMessage], response_model: type[Any]) -> Any:
        self.seen.append((response_model.__name__, messages[-1]["content"]))
        if response_model is SufficiencyOutput:
            return SufficiencyOutput(sufficient=False, missing="the date", queries=[])
        return RewriteOutput(queries=["when did Caroline go", "When did Caroline go?", "Caroline went on 7 May 2023"])


def test_rewrite_asks_the_model_when_the_check_drafted_no_queries() -> None:
    llm = RewriteLLM()
    planner = LLMQueryPlanner(llm)  # type: ignore[arg-type]
    verdict = planner.check("When did Caroline go?", "")
    assert not verdict.sufficient
    # The original question and case-only duplicates are dropped.
    assert planner.rewrite("When did Caroline go?", "", verdict.missing) == ["Caroline went on 7 May 2023"]
    assert [name for name, _ in llm.seen] == ["SufficiencyOutput", "RewriteOutput"]
    assert "(nothing found)" in llm.seen[0][1]
    assert "Missing: the date" in llm.seen[1][1]


def test_a_failing_model_leaves_the_first_round(caplog: pytest.LogCaptureFixture) -> None:
    mem = EverMem(path=None, llm=FailingLLM())
    mem.add(SUPPORT_GROUP[:3], **SCOPE)  # buffered only: no extraction or boundary call needed
    with caplog.at_level(logging.WARNING, logger="evermem_integrations.engine.llm"):
        result = mem.search("support group", method="agentic", **SCOPE)
    assert result.rounds == 1
    assert result.items
    assert "sufficiency check failed" in caplog.text
    mem.close()


@authored_only
def test_json_wrapped_in_prose_and_a_fence_is_still_read() -> None:
    llm = OpenAIChatLLM(LLMConfig(base_url=REPLAY_BASE_URL, model="gpt-4.1-mini", api_key="test", max_retries=0))
    planner = LLMQueryPlanner(llm)
    with replay("fenced_answer"):
        verdict = planner.check("When did Caroline go to the support group?", "- Caroline likes hiking.")
    assert verdict.missing == "the date of the support group"
    assert planner.rewrite(
        "When did Caroline go to the support group?", "- Caroline likes hiking.", verdict.missing
    ) == [
        "When did Caroline go to the LGBTQ support group?",
        "Caroline went to an LGBTQ support group on 7 May 2023.",
    ]
    assert llm.calls == 1
