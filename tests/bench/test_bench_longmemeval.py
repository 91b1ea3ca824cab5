"""The LongMemEval loader on the hand-written tiny file, a benchmark run on it, and its QA under LongMemEval's judge."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evermem_integrations.bench.cli import bench_app
from evermem_integrations.bench.longmemeval import longmemeval_conversations, split_category
from evermem_integrations.bench.qa import QAConfig
from evermem_integrations.datasets import load_longmemeval

from .conftest import authored


def test_loader_reads_questions_sessions_and_dates(tiny_path: Path) -> None:
    questions = load_longmemeval(tiny_path)
    assert [q.question_id for q in questions] == ["tiny_ssu_1", "tiny_ms_1", "tiny_tr_1", "tiny_ku_1", "tiny_ssu_2_abs"]
    first = questions[0]
    assert first.question_date == datetime(2023, 5, 20, 11, 0, tzinfo=UTC)
    assert first.haystack_dates[0] == datetime(2023, 1, 15, 9, 30, tzinfo=UTC)
    assert first.answer == "a border collie"
    assert [q.is_abstention for q in questions] == [False, False, False, False, True]
    assert questions[1].evidence_ids() == ["sess_cello:0", "sess_ukulele:0", "sess_ukulele:2"]
    assert questions[4].evidence_ids() == []


def test_messages_are_time_ordered_with_session_turn_ids(tiny_path: Path) -> None:
    question = load_longmemeval(tiny_path)[0]
    messages = question.messages()
    assert [m.timestamp for m in messages] == sorted(m.timestamp for m in messages)
    dog = next(m for m in messages if m.id == "sess_dog:0")
    assert dog.sender == "user"
    assert dog.role == "user"
    assert dog.timestamp == datetime(2023, 4, 2, 10, 15, tzinfo=UTC)
    assert dog.metadata["has_answer"] is True
    assert dog.metadata["session_id"] == "sess_dog"
    assert next(m for m in messages if m.id == "sess_dog:1").timestamp == datetime(2023, 4, 2, 10, 15, 30, tzinfo=UTC)


def test_loader_filters(tiny_path: Path) -> None:
    assert [q.question_id for q in load_longmemeval(tiny_path, question_types=["single-session-user"])] == [
        "tiny_ssu_1",
        "tiny_ssu_2_abs",
    ]
    assert len(load_longmemeval(tiny_path, include_abstention=False)) == 4
    assert len(load_longmemeval(tiny_path, limit=2)) == 2


def test_loader_names_the_bad_item(tmp_path: Path, tiny_path: Path) -> None:
    data = json.loads(tiny_path.read_text())
    data[1]["haystack_dates"] = data[1]["haystack_dates"][:-1]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"item 1 .*same length"):
        load_longmemeval(bad)
    bad.write_text(json.dumps({"question_id": "x"}))
    with pytest.raises(ValueError, match="expected a JSON list"):
        load_longmemeval(bad)


def test_bench_conversations_one_per_question(tiny_path: Path) -> None:
    conversations = longmemeval_conversations(tiny_path, include_abstention=True)
    assert [c.id for c in conversations] == [q.question_id for q in load_longmemeval(tiny_path)]
    abstention = conversations[-1].questions[0]
    assert abstention.category == "single-session-user-abstention"
    assert split_category(abstention.category) == ("single-session-user", True)
    assert split_category(conversations[0].questions[0].category) == ("single-session-user", False)
    assert abstention.evidence == []
    ku = conversations[3]
    assert ku.questions[0].evidence == ["sess_job:0"]
    assert ku.questions[0].current_time == datetime(2023, 5, 20, 11, 0, tzinfo=UTC)
    assert (
        ku.turns[0].line
        == "[15 January 2023] user: Work at Brightwater Bank has been stressful, the audit season is brutal."
    )


def test_longmemeval_benchmark_runs_on_the_tiny_file(tiny_path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        bench_app,
        [
            "longmemeval",
            "--data",
            str(tiny_path),
            "--budgets",
            "100,400",
            "--methods",
            "hybrid",
            "--baselines",
            "full,bm25",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "longmemeval.json").read_text())
    assert report["questions"] == 4
    assert report["conversations"] == ["tiny_ssu_1", "tiny_ms_1", "tiny_tr_1", "tiny_ku_1"]
    full = report["results"]["full-context"]["budgets"]["100"]
    assert full["evidence_recall"] == 1.0
    # answer words are matched exactly: "repaint" (gold) is not "repainted" (said), so 1/2 there
    assert full["answer_recall"] == pytest.approx((1 + 1 + 0.5 + 1) / 4)
    assert set(full["by_category"]) == {
        "single-session-user",
        "multi-session",
        "temporal-reasoning",
        "knowledge-update",
    }
    for system in ("evermem-hybrid", "bm25-turns"):
        for budget in ("100", "400"):
            cell = report["results"][system]["budgets"][budget]
            assert 0 <= cell["evidence_recall"] <= 1
            assert cell["context_tokens"] <= int(budget)
    bm25 = report["results"]["bm25-turns"]["budgets"]
    assert full["evidence_recall"] >= bm25["400"]["evidence_recall"] >= bm25["100"]["evidence_recall"] > 0
    assert report["ingestion"]["evermem"]["messages"] == sum(
        len(q.messages()) for q in load_longmemeval(tiny_path, include_abstention=False)
    )
    assert (tmp_path / "longmemeval_recall.png").stat().st_size > 1000
    assert "| evermem-hybrid |" in (tmp_path / "longmemeval.md").read_text()


def test_longmemeval_qa_replays_its_judge_protocol_through_the_cli(
    tiny_path: Path, qa_config: QAConfig, qa_cassette: Any, tmp_path: Path
) -> None:
    arguments = ["longmemeval", "--data", str(tiny_path), "--include-abstention", "--budgets", "500"]
    arguments += ["--methods", "hybrid", "--baselines", "bm25", "--out", str(tmp_path)]
    arguments += ["--answer-model", qa_config.answer_model, "--judge-model", qa_config.judge_model]
    if qa_config.base_url:
        arguments += ["--base-url", qa_config.base_url]
    if qa_config.api_key:
        arguments += ["--api-key", qa_config.api_key]
    with qa_cassette("qa_longmemeval_tiny") as used:
        result = CliRunner().invoke(bench_app, arguments)
    assert result.exit_code == 0, result.output

    # five questions (the abstention one included) for two systems: one answer and three judge runs each
    answers, judges = used.calls("answer"), used.calls("judge")
    assert len(answers) == 5 * 2
    assert len(judges) == 5 * 2 * 3
    assert all(b["temperature"] == 0.0 and b["max_tokens"] == 10 for b in judges)
    assert all("response_format" not in b and [m["role"] for m in b["messages"]] == ["user"] for b in judges)

    records = [json.loads(line) for line in (tmp_path / "longmemeval_qa_answers.jsonl").read_text().splitlines()]
    assert [r["question_id"] for r in records[::2]] == [q.question_id for q in load_longmemeval(tiny_path)]
    prompts = [b["messages"][0]["content"] for b in judges]
    for index, record in enumerate(records):
        runs = prompts[3 * index : 3 * index + 3]
        assert len(set(runs)) == 1
        assert f"Model response: {record['answer']}" in runs[0]
        assert len(record["labels"]) == len(record["judge_replies"]) == 3
    by_question = {r["question_id"]: prompts[3 * i] for i, r in enumerate(records)}
    assert f"Correct answer: {records[0]['gold']}" in by_question["tiny_ssu_1"]
    assert "off-by-one" in by_question["tiny_tr_1"]
    assert "outdated information" in by_question["tiny_ku_1"]
    assert f"Explanation: {records[-1]['gold']}" in by_question["tiny_ssu_2_abs"]
    assert by_question["tiny_ssu_2_abs"].endswith(
        "correctly identify the question as unanswerable? Answer yes or no only."
    )

    report = json.loads((tmp_path / "longmemeval.json").read_text())
    assert report["qa_settings"]["judge_protocol"] == "longmemeval"
    assert report["qa_settings"]["judge_runs"] == 3
    qa = report["qa"]
    assert {system: row["questions"] for system, row in qa.items()} == {"evermem-hybrid": 5, "bm25-turns": 5}
    assert "with the longmemeval protocol" in (tmp_path / "longmemeval.md").read_text()
    if authored("qa_longmemeval_tiny"):
        hybrid, bm25 = qa["evermem-hybrid"], qa["bm25-turns"]
        assert hybrid["accuracy_runs"] == [1.0, 0.8, 1.0]  # one judge run says no to the knowledge update
        assert hybrid["accuracy_mean"] == pytest.approx(14 / 15)
        assert hybrid["accuracy_std"] == pytest.approx(0.09428, abs=1e-5)
        assert {c: row["accuracy_mean"] for c, row in hybrid["by_category"].items()} == pytest.approx(
            {
                "single-session-user": 1.0,
                "multi-session": 1.0,
                "temporal-reasoning": 1.0,
                "knowledge-update": 2 / 3,
                "single-session-user-abstention": 1.0,
            }
        )
        assert bm25["accuracy_runs"] == pytest.approx([0.2, 0.2, 0.2])
        assert {c: row["accuracy_mean"] for c, row in bm25["by_category"].items()} == {
            "single-session-user": 1.0,
            "multi-session": 0.0,  # names two of the three instruments: a subset is no
            "temporal-reasoning": 0.0,
            "knowledge-update": 0.0,
            "single-session-user-abstention": 0.0,  # named the puppy instead of saying there is no cat
        }
        assert hybrid["judge_tokens_per_question"] == 3 * (190 + 1)


def test_turns_that_show_nothing_are_skipped(tmp_path: Path, tiny_path: Path) -> None:
    """A turn of only a zero-width space (one is in LongMemEval_S) is not a message, nor evidence."""
    data = json.loads(tiny_path.read_text())
    data[0]["haystack_sessions"][0].append({"role": "assistant", "content": "\u200b", "has_answer": True})
    data[0]["haystack_sessions"][0].append({"role": "user", "content": " \u2060\n", "has_answer": False})
    odd = tmp_path / "odd.json"
    odd.write_text(json.dumps(data))
    question = load_longmemeval(odd)[0]
    session = question.haystack_session_ids[0]
    count = len(data[0]["haystack_sessions"][0])
    ids = {m.id for m in question.messages()}
    assert f"{session}:{count - 2}" not in ids
    assert f"{session}:{count - 1}" not in ids
    assert f"{session}:{count - 2}" not in question.evidence_ids()
