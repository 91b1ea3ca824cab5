"""A smoke slice of the LoCoMo retrieval benchmark, end to end through the CLI (not timed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evermem_integrations.bench.cli import bench_app
from evermem_integrations.bench.locomo import locomo_conversations

SYSTEMS = [
    "evermem-hybrid",
    "evermem-scene",
    "full-context",
    "bm25-turns",
    "dense-turns",
    "hybrid-turns",
    "langchain-rag",
]


@pytest.fixture(scope="module")
def smoke(locomo_path: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    out = tmp_path_factory.mktemp("locomo-bench")
    result = CliRunner().invoke(
        bench_app,
        [
            "locomo",
            "--data",
            str(locomo_path),
            "--conversations",
            "conv-26",
            "--sessions",
            "5",
            "--limit-questions",
            "20",
            "--budgets",
            "500,2000",
            "--methods",
            "hybrid,scene",
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "locomo.json").read_text()), out, result.output


def test_the_three_outputs_are_written(smoke: tuple[dict[str, Any], Path, str]) -> None:
    report, out, output = smoke
    assert (out / "locomo_recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = (out / "locomo.md").read_text()
    for system in SYSTEMS:
        assert f"| {system} |" in markdown
    assert "| evermem-hybrid |" in output  # the table is printed too
    scores = (out / "locomo_scores.jsonl").read_text().splitlines()
    assert len(scores) == 20 * 2 * len(SYSTEMS)
    assert report["systems"] == SYSTEMS
    assert report["budgets"] == [500, 2000]
    assert report["questions"] == 20
    assert report["conversations"] == ["conv-26"]
    assert report["embedder"].startswith("model2vec:")


def test_values_are_sane(smoke: tuple[dict[str, Any], Path, str]) -> None:
    report, _, _ = smoke
    results = report["results"]

    def at(system: str, budget: int, key: str) -> float:
        return results[system]["budgets"][str(budget)][key]

    for system in SYSTEMS:
        for budget in (500, 2000):
            for key in ("evidence_recall", "answer_recall"):
                assert 0.0 <= at(system, budget, key) <= 1.0
            if system != "full-context":
                assert at(system, budget, "context_tokens") <= budget
        assert results[system]["latency_p95_ms"] >= results[system]["latency_p50_ms"] >= 0
    # the whole conversation (five sessions here) carries every gold turn, and costs more tokens than any budget
    assert at("full-context", 500, "evidence_recall") == 1.0
    assert at("full-context", 500, "context_tokens") > 2000
    for system in SYSTEMS:
        assert at("full-context", 500, "evidence_recall") >= at(system, 500, "evidence_recall")
    # raw turns: the whole conversation holds at least the words of any subset of it
    for system in ("bm25-turns", "dense-turns", "langchain-rag"):
        assert at("full-context", 500, "answer_recall") >= at(system, 500, "answer_recall")
    # (EverMem may beat it on answer recall: it writes "7 May 2023" where a turn said "yesterday")
    # more budget, more evidence for the raw-turn rankers
    for system in ("bm25-turns", "dense-turns", "langchain-rag"):
        assert at(system, 2000, "evidence_recall") >= at(system, 500, "evidence_recall")
    # the evermem methods share one store: one ingestion entry, every message counted once
    conversation = locomo_conversations(report["data"], ["conv-26"], sessions=5)[0]
    assert report["ingestion"]["evermem"]["messages"] == len(conversation.messages)
    assert report["ingestion"]["evermem"]["messages_per_s"] > 0
    categories = set(results["bm25-turns"]["budgets"]["500"]["by_category"])
    assert categories <= {"multi-hop", "temporal", "open-domain", "single-hop"}
    assert sum(c["questions"] for c in results["bm25-turns"]["budgets"]["500"]["by_category"].values()) == 20


def test_locomo_conversion_keeps_categories_one_to_four(locomo_path: Path) -> None:
    conversation = locomo_conversations(locomo_path, ["conv-26"])[0]
    assert {q.category for q in conversation.questions} == {"multi-hop", "temporal", "open-domain", "single-hop"}
    assert all(q.answer is not None for q in conversation.questions)
    turn_ids = {t.id for t in conversation.turns}
    assert all(set(q.evidence) <= turn_ids for q in conversation.questions)
    assert conversation.questions[0].current_time == conversation.messages[-1].timestamp


def test_bad_options_are_one_line_errors(locomo_path: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(
        bench_app, ["locomo", "--data", str(locomo_path), "--methods", "fuzzy", "--out", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "unknown method fuzzy" in str(result.exception)
    result = runner.invoke(
        bench_app, ["locomo", "--data", str(locomo_path), "--budgets", "500,lots", "--out", str(tmp_path)]
    )
    assert "--budgets: 'lots' is not a number" in str(result.exception)


def test_sessions_keeps_the_first_sessions_and_the_questions_they_answer(locomo_path: Path) -> None:
    whole = locomo_conversations(locomo_path, ["conv-26"])[0]
    short = locomo_conversations(locomo_path, ["conv-26"], sessions=2)[0]
    assert 0 < len(short.messages) < len(whole.messages)
    assert {m.metadata["session"] for m in short.messages} == {1, 2}
    assert short.questions
    assert all(q.evidence and all(e.startswith(("D1:", "D2:")) for e in q.evidence) for q in short.questions)
    assert short.questions[0].current_time == short.messages[-1].timestamp
