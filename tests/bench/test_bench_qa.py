"""The QA benchmark: answer and judge calls replayed from a cassette, and the judge arithmetic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evermem_integrations.bench.longmemeval import longmemeval_conversations
from evermem_integrations.bench.qa import QAConfig, QAEvaluator, QARecord, parse_label, run_accuracies, summarize_qa
from evermem_integrations.bench.report import retrieval_markdown
from evermem_integrations.bench.runner import run_retrieval, summarize
from evermem_integrations.errors import ConfigurationError


def test_qa_on_the_tiny_file_replays_the_protocol(
    tiny_path: Path, qa_config: QAConfig, qa_cassette: Any, authored_cassettes: bool
) -> None:
    conversations = longmemeval_conversations(tiny_path)
    evaluator = QAEvaluator(qa_config)
    with qa_cassette("qa_longmemeval_tiny") as used:
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
        prompt = runs[0]["messages"][-1]["content"]
        assert f"Gold answer: {record.gold}" in prompt
        assert f"Generated answer: {record.answer}" in prompt
        assert len(record.labels) == 3

    summary = summarize(result, budgets=[500], meta={"benchmark": "longmemeval"})["qa"]
    for system in ("evermem-hybrid", "bm25-turns"):
        rows = [r for r in records if r.system == system]
        assert summary[system]["accuracy_runs"] == run_accuracies(rows)
        assert summary[system]["questions"] == 4
    if authored_cassettes:
        assert summary["evermem-hybrid"]["accuracy_runs"] == [0.75, 1.0, 0.75]
        assert summary["evermem-hybrid"]["accuracy_mean"] == pytest.approx(5 / 6)
        assert summary["evermem-hybrid"]["accuracy_std"] == pytest.approx(0.11785, abs=1e-5)
        assert summary["bm25-turns"]["accuracy_runs"] == [0.5, 0.5, 0.5]
        assert summary["bm25-turns"]["by_category"]["knowledge-update"]["accuracy_mean"] == 0.0
        assert summary["bm25-turns"]["answer_prompt_tokens_per_question"] == 180
        assert records[-1].raw_labels == ["WRONG", "WRONG", "WRONG"]  # the last reply was plain text


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
    ("reply", "label"),
    [
        ('{"reasoning": "same date", "label": "CORRECT"}', "CORRECT"),
        ('{"label": "wrong"}', "WRONG"),
        ("The answer names another city.\nWRONG", "WRONG"),
        ('{"reasoning": "it is not WRONG to say so", "label": "CORRECT"}', "CORRECT"),
    ],
)
def test_judge_labels_are_parsed(reply: str, label: str) -> None:
    assert parse_label(reply) == label


def test_a_reply_without_label_is_an_error() -> None:
    with pytest.raises(ValueError, match="no CORRECT/WRONG label"):
        parse_label('{"verdict": "fine"}')


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
        QAEvaluator(QAConfig("m", "m"))


def test_qa_flags_of_the_cli_run_the_same_protocol(
    tiny_path: Path, qa_config: QAConfig, qa_cassette: Any, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from evermem_integrations.bench.cli import bench_app

    arguments = [
        "longmemeval",
        "--data",
        str(tiny_path),
        "--budgets",
        "500",
        "--methods",
        "hybrid",
        "--baselines",
        "bm25",
    ]
    arguments += ["--answer-model", qa_config.answer_model, "--judge-model", qa_config.judge_model]
    arguments += ["--base-url", qa_config.base_url or "", "--api-key", qa_config.api_key or "", "--out", str(tmp_path)]
    with qa_cassette("qa_longmemeval_tiny") as used:
        result = CliRunner().invoke(bench_app, arguments)
    assert result.exit_code == 0, result.output
    assert len(used.calls("answer")) == 8
    assert len(used.calls("judge")) == 24
    report = json.loads((tmp_path / "longmemeval.json").read_text())
    assert report["qa_settings"]["judge_runs"] == 3
    assert report["qa_settings"]["budget"] == 500
    assert set(report["qa"]) == {"evermem-hybrid", "bm25-turns"}
    assert "QA (answer model" in (tmp_path / "longmemeval.md").read_text()
    answers = [json.loads(line) for line in (tmp_path / "longmemeval_qa_answers.jsonl").read_text().splitlines()]
    assert len(answers) == 8
    judged = [b["messages"][-1]["content"] for b in used.calls("judge")]
    for index, answer in enumerate(answers):
        assert all(f"Generated answer: {answer['answer']}" in prompt for prompt in judged[3 * index : 3 * index + 3])
