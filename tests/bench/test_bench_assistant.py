"""The bundled assistant-chat data set and ``evermem bench assistant`` end to end.

These tests check the data and the harness, never the engine's quality: the figures the
bench prints are measurements, not expectations.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import evermem_integrations
from evermem_integrations.bench.assistant_chat import to_bench
from evermem_integrations.bench.cli import bench_app
from evermem_integrations.datasets.assistant_chat import (
    DATA_PATH,
    QUESTION_TYPES,
    AssistantChat,
    load_assistant_chat,
    parse_assistant_chat,
)

CHINESE = re.compile(r"[\u4e00-\u9fff]")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return json.loads(DATA_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def chat() -> AssistantChat:
    return load_assistant_chat()


def test_the_file_ships_inside_the_package() -> None:
    package = Path(evermem_integrations.__file__).parent
    assert DATA_PATH.is_file()
    assert DATA_PATH.is_relative_to(package)


def test_the_conversation_has_the_intended_shape(chat: AssistantChat) -> None:
    assert 12 <= len(chat.session_dates) <= 16
    assert len(set(chat.session_dates.values())) == len(chat.session_dates)  # one session a day
    assert 180 <= len(chat.messages) <= 260
    assert {m.role for m in chat.messages} == {"user", "assistant"}
    assert {m.sender for m in chat.messages} == {chat.user, chat.assistant}
    days = sorted(chat.session_dates.values())
    assert 6 * 7 <= (days[-1] - days[0]).days <= 8 * 7
    stamps = [m.timestamp for m in chat.messages]
    assert stamps == sorted(stamps)
    assert all(m.timestamp.date() == chat.session_dates[m.metadata["session"]] for m in chat.messages)
    user = [m for m in chat.messages if m.role == "user"]
    share = sum(1 for m in user if CHINESE.search(m.content)) / len(user)
    assert 0.08 <= share <= 0.2
    assert chat.user_details == {chat.user: {"city": "Manchester"}}


def test_none_of_the_reported_names_is_reused(raw: dict[str, Any]) -> None:
    text = json.dumps(raw, ensure_ascii=False)
    for name in (
        "Priya",
        "Maya",
        "Ana",
        "Caroline",
        "Melanie",
        "Biscuit",
        "Mochi",
        "Austin",
        "Seattle",
        "Alvarez",
        "Okafor",
    ):
        assert not re.search(rf"\b{name}\b", text), name


def test_every_referenced_id_names_a_message(raw: dict[str, Any]) -> None:
    ids = [m["id"] for m in raw["conversation"]["messages"]]
    assert len(ids) == len(set(ids))
    truth = raw["truth"]
    referenced = [i for p in truth["profile"] for i in p["message_ids"]]
    referenced += [i for s in truth["superseded"] for i in [s["message_id"], *s["old_message_ids"]]]
    referenced += [p["message_id"] for p in truth["plans"]] + truth["not_plans"]
    referenced += [i for q in truth["questions"] for i in q["evidence"]]
    assert set(referenced) <= set(ids)
    assert set(truth["topics"]) == set(ids)  # every message has a topic, and only messages do
    assert set(truth["recurring_topics"]) <= set(truth["topics"].values())


def test_the_questions_cover_every_type(chat: AssistantChat) -> None:
    questions = chat.truth.questions
    assert 30 <= len(questions) <= 50
    assert {q.type for q in questions} == set(QUESTION_TYPES)
    assert len({q.id for q in questions}) == len(questions)
    assert sum(1 for q in questions if q.chinese) >= 6
    by_id = {m.id: m for m in chat.messages}
    for question in questions:
        assert all(by_id[i].timestamp <= question.question_date for i in question.evidence), question.id
        if question.chinese:  # asked in Chinese, or answered only by Chinese messages
            assert CHINESE.search(question.question) or any(CHINESE.search(by_id[i].content) for i in question.evidence)
    updates = [q for q in questions if q.type == "knowledge-update"]
    assert any(q.question == f"Where does {chat.user} live now?" for q in updates)
    for question in updates:
        assert question.current and question.old
        assert any(c.casefold() in question.answer.casefold() for c in question.current), question.id


def test_superseded_values_are_said_before_the_change(chat: AssistantChat) -> None:
    by_id = {m.id: m for m in chat.messages}
    truth = {p.attribute: p for p in chat.truth.profile}
    for change in chat.truth.superseded:
        assert change.attribute in truth
        assert change.new == truth[change.attribute].value
        assert change.message_id in truth[change.attribute].message_ids
        changed = by_id[change.message_id].timestamp
        assert all(by_id[i].timestamp < changed for i in change.old_message_ids)
        assert any(
            form.casefold() in by_id[i].content.casefold() for i in change.old_message_ids for form in change.old_forms
        )


def test_plan_dates_agree_with_the_message_timestamps(chat: AssistantChat) -> None:
    by_id = {m.id: m for m in chat.messages}
    assert not {p.message_id for p in chat.truth.plans} & set(chat.truth.not_plans)
    assert sum(1 for p in chat.truth.plans if p.recurring) == 1
    for plan in chat.truth.plans:
        message = by_id[plan.message_id]
        said = message.timestamp.date()
        text = message.content.casefold()
        assert plan.start == said
        assert plan.keyword.casefold() in text, plan.keyword
        if plan.recurring:
            assert plan.end is None
            continue
        assert plan.end is not None and plan.end >= said
        if "tomorrow" in text:
            assert plan.end == said + timedelta(days=1)
        for weekday, name in enumerate(WEEKDAYS):
            if f"next {name}" in text or f"this {name}" in text or f"on {name}" in text:
                assert plan.end.weekday() == weekday and 0 < (plan.end - said).days <= 7 + 6, plan.keyword
        day = re.search(r"(\d{1,2})(?:-(\d{1,2}))? (october|november|december|may)", text)
        if day:
            last = int(day.group(2) or day.group(1))
            assert plan.end.day == last and plan.end.strftime("%B").casefold() == day.group(3), plan.keyword


def test_the_validator_rejects_inconsistent_truth(raw: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(raw))
    broken["truth"]["questions"][0]["evidence"] = ["nope"]
    with pytest.raises(ValueError, match="unknown message ids"):
        parse_assistant_chat(broken)
    broken = json.loads(json.dumps(raw))
    broken["truth"]["plans"][1]["start"] = "2025-01-01"
    with pytest.raises(ValueError, match="starts 2025-01-01"):
        parse_assistant_chat(broken)
    broken = json.loads(json.dumps(raw))
    del broken["truth"]["topics"][raw["conversation"]["messages"][0]["id"]]
    with pytest.raises(ValueError, match="without a topic"):
        parse_assistant_chat(broken)


def test_the_bench_conversation_keeps_ids_and_question_dates(chat: AssistantChat) -> None:
    conversation = to_bench(chat, question_types=["temporal"], limit_questions=3)
    assert [t.id for t in conversation.turns] == [m.id for m in chat.messages]
    assert len(conversation.questions) == 3
    assert {q.category for q in conversation.questions} == {"temporal"}
    temporal = [q for q in chat.truth.questions if q.type == "temporal"][:3]
    assert [q.current_time for q in conversation.questions] == [q.question_date for q in temporal]
    assert conversation.turns[0].session_date.date() == date(2025, 10, 6)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    out = tmp_path_factory.mktemp("assistant-bench")
    result = CliRunner().invoke(
        bench_app,
        ["assistant", "--budgets", "500,2000", "--baselines", "bm25", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "assistant.json").read_text()), out, result.output


def test_bench_assistant_writes_its_report(smoke: tuple[dict[str, Any], Path, str], chat: AssistantChat) -> None:
    report, out, output = smoke
    assert report["benchmark"] == "assistant"
    assert report["systems"] == ["evermem-hybrid", "evermem-scene", "bm25-turns"]
    assert report["budgets"] == [500, 2000]
    assert report["questions"] == len(chat.truth.questions)
    categories = report["results"]["evermem-hybrid"]["budgets"]["2000"]["by_category"]
    assert set(categories) == set(QUESTION_TYPES)
    assert (out / "assistant_recall.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = (out / "assistant_scores.jsonl").read_text().splitlines()
    assert len(rows) == len(chat.truth.questions) * 2 * 3
    markdown = (out / "assistant.md").read_text()
    assert "Memory fidelity" in markdown and "Memory fidelity" in output


def test_bench_assistant_reports_fidelity(smoke: tuple[dict[str, Any], Path, str], chat: AssistantChat) -> None:
    fidelity = smoke[0]["fidelity"]
    profile = fidelity["profile"]
    assert profile["right"] + profile["wrong"] + profile["missing"] == len(chat.truth.profile)
    assert 0 <= profile["stale"] <= len(chat.truth.superseded)
    updates = fidelity["updates"]
    assert updates["questions"] == sum(1 for q in chat.truth.questions if q.type == "knowledge-update")
    assert len(updates["details"]) == updates["questions"]
    foresight = fidelity["foresight"]
    assert foresight["right"] + foresight["wrong"] + foresight["missing"] == len(chat.truth.plans)
    assert foresight["not_plans"] == len(chat.truth.not_plans)
    scenes = fidelity["scenes"]
    assert scenes["memcells"] > 0
    assert set(scenes["recurring_topics"]) == set(chat.truth.recurring_topics)
    assert scenes["purity"] is None or 0 <= scenes["purity"] <= 1


def test_the_bundled_chat_leaves_memories_a_person_would_trust(smoke: tuple[dict[str, Any], Path, str]) -> None:
    """Floors at what the offline backend reaches on the bundled chat (a development set: behaviour, not sentences)."""
    fidelity = smoke[0]["fidelity"]
    profile, updates = fidelity["profile"], fidelity["updates"]
    assert profile["right"] >= profile["truth"] - 2 and profile["wrong"] <= 1 and profile["stale"] == 0
    # every changed value: the current one first, the old one marked where it was stated as a profile value
    assert updates["current_top1"] == updates["questions"] and updates["old_above_current"] == 0
    assert updates["old_marked_as_history"] >= updates["old_in_context"] - 2
    assert fidelity["foresight"]["right"] >= fidelity["foresight"]["plans"] - 1
    scenes = fidelity["scenes"]
    assert scenes["purity"] >= 0.9 and scenes["completeness"] >= 0.83


def test_bench_assistant_without_evermem_methods_still_scores_fidelity(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        bench_app,
        [
            "assistant",
            "--budgets",
            "500",
            "--methods",
            "",
            "--baselines",
            "bm25",
            "--question-types",
            "knowledge-update",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "assistant.json").read_text())
    assert report["systems"] == ["bm25-turns"]
    assert report["fidelity"]["scenes"]["memcells"] > 0
    assert report["fidelity"]["updates"]["questions"] == report["questions"]


def test_bench_assistant_rejects_an_unknown_question_type(tmp_path: Path) -> None:
    result = CliRunner().invoke(bench_app, ["assistant", "--question-types", "trivia", "--out", str(tmp_path)])
    assert result.exit_code != 0
