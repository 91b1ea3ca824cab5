"""The QA benchmark: the two judge protocols, answer and judge calls replayed, and the judge arithmetic.

The LongMemEval protocol end to end through ``evermem bench longmemeval`` is in
``test_bench_longmemeval.py``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evermem_integrations.bench import cli
from evermem_integrations.bench.corpus import BenchQuestion
from evermem_integrations.bench.longmemeval import longmemeval_conversations
from evermem_integrations.bench.qa import (
    LOCOMO_JUDGE,
    LONGMEMEVAL_JUDGE,
    QAConfig,
    QAEvaluator,
    QARecord,
    run_accuracies,
    summarize_qa,
)
from evermem_integrations.bench.report import retrieval_markdown
from evermem_integrations.bench.runner import run_retrieval, summarize
from evermem_integrations.errors import ConfigurationError

from .conftest import authored

CONTAINS_RULE = "contains every intermediate step"


def test_locomo_judge_replays_on_the_tiny_file(tiny_path: Path, qa_config: QAConfig, qa_cassette: Any) -> None:
    conversations = longmemeval_conversations(tiny_path)
    evaluator = QAEvaluator(qa_config, protocol=LOCOMO_JUDGE)
    with qa_cassette("qa_locomo_protocol_tiny") as used:
        result = run_retrieval(
            conversations, budgets=[500], methods=["hybrid"], baselines=["bm25"], qa=evaluator, qa_budget=500
        )
    questions = [c.questions[0] for c in conversations]
    assert len(questions) == 4  # the abstention question is left out

    answers, judges = used.calls("answer"), used.calls("judge")
    assert len(answers) == 4 * 2
    assert len(judges) == 4 * 2 * 3
    assert {b["model"] for b in answers} == {qa_config.answer_model}
    assert {b["model"] for b in judges} == {qa_config.judge_model}
    assert all(b["temperature"] == 0.0 for b in answers + judges)
    assert all(b["response_format"] == {"type": "json_object"} for b in judges)
    assert all(b["max_tokens"] == 200 for b in judges)
    assert all("response_format" not in b for b in answers)

    # each answer prompt carries the question, its date and the context that system retrieved at 500 tokens
    records = result.qa
    assert [(r.system, r.question_id) for r in records] == [
        (system, q.id) for q in questions for system in ("evermem-hybrid", "bm25-turns")
    ]
    for body, record, question in zip(answers, records, [q for q in questions for _ in range(2)], strict=True):
        prompt = body["messages"][-1]["content"]
        assert f"Question: {question.question}" in prompt
        assert "Today is 20 May 2023." in prompt
        assert record.context_tokens <= 500
    bm25_puppy = answers[1]["messages"][-1]["content"]
    assert "[2 April 2023] user: I just brought home a border collie puppy named Maple" in bm25_puppy

    # each judge prompt carries the gold answer and the answer the model gave, three times
    for index, record in enumerate(records):
        runs = judges[3 * index : 3 * index + 3]
        assert len({json.dumps(b, sort_keys=True) for b in runs}) == 1
        assert len(runs[0]["messages"]) == 1
        prompt = runs[0]["messages"][0]["content"]
        assert f"Gold answer: {record.gold}" in prompt
        assert f"Generated answer: {record.answer}" in prompt
        assert len(record.labels) == len(record.judge_replies) == 3

    summary = summarize(result, budgets=[500], meta={"benchmark": "longmemeval"})["qa"]
    for system in ("evermem-hybrid", "bm25-turns"):
        rows = [r for r in records if r.system == system]
        assert summary[system]["accuracy_runs"] == run_accuracies(rows)
        assert summary[system]["questions"] == 4
    if authored("qa_locomo_protocol_tiny"):
        assert summary["evermem-hybrid"]["accuracy_runs"] == [0.75, 1.0, 0.75]
        assert summary["evermem-hybrid"]["accuracy_mean"] == pytest.approx(5 / 6)
        assert summary["evermem-hybrid"]["accuracy_std"] == pytest.approx(0.11785, abs=1e-5)
        assert summary["bm25-turns"]["accuracy_runs"] == [0.5, 0.5, 0.5]
        assert summary["bm25-turns"]["by_category"]["knowledge-update"]["accuracy_mean"] == 0.0
        assert summary["bm25-turns"]["answer_prompt_tokens_per_question"] == 180
        # the last reply was plain text: kept as the judge wrote it, read as WRONG
        assert records[-1].judge_replies[-1] == "The generated answer names the previous employer.\nWRONG"
        assert records[-1].labels == [False, False, False]


def test_qa_table_is_in_the_markdown() -> None:
    record = QARecord(
        "bm25-turns", "c", "q", "temporal", "When?", "7 May 2023", "7 May", [True, False, True], 400, 500, 6
    )
    report = {
        "benchmark": "locomo",
        "budgets": [500],
        "questions": 1,
        "results": {},
        "qa": summarize_qa([record]),
        "qa_settings": {"answer_model": "a", "judge_model": "j", "judge_runs": 3, "budget": 500},
    }
    markdown = retrieval_markdown(report)
    assert "| bm25-turns | 66.7 ± 47.1 | 66.7 | 400 | 500 |" in markdown


@pytest.mark.parametrize(
    ("reply", "correct"),
    [
        ('{"reasoning": "same date", "label": "CORRECT"}', True),
        ('{"label": "wrong"}', False),
        ("The answer names another city.\nWRONG", False),
        ('{"reasoning": "it is not WRONG to say so", "label": "CORRECT"}', True),
    ],
)
def test_locomo_judge_labels_are_parsed(reply: str, correct: bool) -> None:
    assert LOCOMO_JUDGE.parse(reply) is correct


def test_a_locomo_reply_without_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="no CORRECT/WRONG label"):
        LOCOMO_JUDGE.parse('{"verdict": "fine"}')


@pytest.mark.parametrize(
    ("reply", "correct"),
    [
        ("Yes", True),
        ("yes.", True),
        ("YES, it names the breed.", True),
        ("No", False),
        ("no.", False),
        ("No, it only names the cello.", False),
        ("Yes and no", True),  # LongMemEval: "yes" anywhere in the reply accepts
    ],
)
def test_longmemeval_judge_replies_are_read_as_yes_or_no(reply: str, correct: bool) -> None:
    assert LONGMEMEVAL_JUDGE.parse(reply) is correct


@pytest.mark.parametrize("reply", ["Correct.", "Nope", "eyes on the prize", ""])
def test_a_longmemeval_reply_with_neither_yes_nor_no_is_an_error(reply: str) -> None:
    with pytest.raises(ValueError, match="neither yes nor no"):
        LONGMEMEVAL_JUDGE.parse(reply)


def _question(category: str, answer: str = "gold") -> BenchQuestion:
    return BenchQuestion("q1", "What did I say?", answer, category, [], datetime(2023, 5, 20, tzinfo=UTC))


@pytest.mark.parametrize(
    ("category", "gold_line", "rule", "ask"),
    [
        ("single-session-user", "Correct answer: gold", CONTAINS_RULE, "Is the model response correct?"),
        ("single-session-assistant", "Correct answer: gold", CONTAINS_RULE, "Is the model response correct?"),
        ("multi-session", "Correct answer: gold", "only part of the information", "Is the model response correct?"),
        ("temporal-reasoning", "Correct answer: gold", "off-by-one error", "Is the model response correct?"),
        ("knowledge-update", "Correct answer: gold", "earlier, outdated information", "Is the model response correct?"),
        ("single-session-preference", "Rubric: gold", "need not cover every point", "Is the model response correct?"),
        (
            "single-session-user-abstention",
            "Explanation: gold",
            "information is incomplete or missing",
            "unanswerable?",
        ),
        ("multi-session-abstention", "Explanation: gold", "information is incomplete or missing", "unanswerable?"),
    ],
)
def test_longmemeval_judge_prompt_follows_the_question_type(category: str, gold_line: str, rule: str, ask: str) -> None:
    messages = LONGMEMEVAL_JUDGE.prompt(_question(category), "my answer")
    assert [m["role"] for m in messages] == ["user"]
    prompt = messages[0]["content"]
    assert "Question: What did I say?" in prompt
    assert gold_line in prompt
    assert "Model response: my answer" in prompt
    assert rule in prompt
    assert prompt.endswith(f"{ask} Answer yes or no only.")


def test_longmemeval_judge_rules_are_only_where_they_belong() -> None:
    def prompt(category: str) -> str:
        return LONGMEMEVAL_JUDGE.prompt(_question(category), "x")[0]["content"]

    assert "off-by-one" not in prompt("single-session-user")
    assert CONTAINS_RULE in prompt("temporal-reasoning")
    assert CONTAINS_RULE not in prompt("knowledge-update")
    assert "unanswerable" not in prompt("multi-session")
    assert prompt("single-session-user") == prompt("multi-session")


def test_longmemeval_judge_refuses_an_unknown_question_type() -> None:
    with pytest.raises(ConfigurationError, match=r"'open-domain'.*known types: single-session-user"):
        LONGMEMEVAL_JUDGE.prompt(_question("open-domain"), "x")


def test_accuracy_is_per_judge_run_then_mean_and_std() -> None:
    records = [
        QARecord("s", "c", "q1", "single-hop", "?", "a", "a", [True, True, True], 10, 20, 3),
        QARecord("s", "c", "q2", "temporal", "?", "b", "x", [False, True, False], 30, 40, 3),
    ]
    summary = summarize_qa(records)["s"]
    assert summary["accuracy_runs"] == [0.5, 1.0, 0.5]
    assert summary["accuracy_mean"] == pytest.approx(2 / 3)
    assert summary["accuracy_std"] == pytest.approx(0.2357, abs=1e-4)
    assert summary["by_category"]["temporal"]["accuracy_mean"] == pytest.approx(1 / 3)
    assert summary["context_tokens_per_question"] == 20
    assert summary["answer_prompt_tokens_per_question"] == 30


def test_qa_without_an_endpoint_says_what_to_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigurationError, match="--api-key"):
        QAEvaluator(QAConfig("m", "m"), protocol=LOCOMO_JUDGE)


def test_the_locomo_command_judges_with_the_locomo_protocol(monkeypatch: pytest.MonkeyPatch, tiny_path: Path) -> None:
    # the run itself is the LongMemEval test's business (LoCoMo data stays out of the repo): only the wiring here
    used: list[QAEvaluator | None] = []
    monkeypatch.setattr("evermem_integrations.bench.locomo.locomo_conversations", lambda *args, **kwargs: [])
    monkeypatch.setattr(
        cli, "run_retrieval_command", lambda benchmark, conversations, **kwargs: used.append(kwargs["qa"])
    )
    arguments = ["locomo", "--data", str(tiny_path), "--answer-model", "m", "--base-url", "http://127.0.0.1:9/v1"]
    result = CliRunner().invoke(cli.bench_app, arguments)
    assert result.exit_code == 0, result.output
    assert [qa.protocol for qa in used if qa is not None] == [LOCOMO_JUDGE]
