"""`evermem ingest`: progress, summary, idempotent and resumable runs, --no-flush, LoCoMo files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evermem_integrations import EverMem

REPO = Path(__file__).resolve().parents[2]
LOCOMO = REPO.parent / "shared" / "data" / "locomo" / "locomo-dev.json"


def stats(store: Path, **scope: str):
    with EverMem(path=store) as mem:
        return mem.stats(**scope)


def test_ingest_stores_messages_and_prints_a_summary(invoke, chat_file: Path, store: Path) -> None:
    result = invoke("ingest", str(chat_file), "--user", "rita", "--path", str(store))
    assert result.exit_code == 0, result.output
    for label in ("messages", "MemCells", "scenes", "profile items", "time taken", "11 new, 0 already stored"):
        assert label in result.output
    assert "1 system message(s) left out" in result.output
    after = stats(store, user_id="rita")
    assert after.messages == 11
    assert after.buffered == 0  # flushed at the end
    assert after.memcells >= 3  # one per day at least
    with EverMem(path=store) as mem:
        residence = [i for i in mem.get(kind="profile", user_id="rita") if i.attribute == "residence"]
        # role=user messages are attributed to the --user id
        assert [(i.subject, i.value) for i in residence] == [("rita", "Lisbon")]


def test_second_run_stores_nothing_twice(invoke, chat_file: Path, store: Path) -> None:
    assert invoke("ingest", str(chat_file), "--user", "rita", "--path", str(store)).exit_code == 0
    first = stats(store, user_id="rita")
    again = invoke("ingest", str(chat_file), "--user", "rita", "--path", str(store))
    assert again.exit_code == 0, again.output
    assert "0 new, 11 already stored" in again.output
    assert stats(store, user_id="rita") == first


def test_interrupted_ingest_resumes_where_it_stopped(invoke, chat_file: Path, store: Path, tmp_path: Path) -> None:
    messages = json.loads(chat_file.read_text())
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(messages[:6]))  # as if the run died after the first batch
    assert invoke("ingest", str(partial), "--user", "rita", "--path", str(store), "--no-flush").exit_code == 0
    assert stats(store, user_id="rita").messages == 5
    rerun = invoke("ingest", str(chat_file), "--user", "rita", "--path", str(store), "--batch-size", "4")
    assert rerun.exit_code == 0, rerun.output
    assert "6 new, 5 already stored" in rerun.output
    assert stats(store, user_id="rita").messages == 11


def test_no_flush_leaves_the_open_episode_buffered_and_searchable(invoke, chat_file: Path, store: Path) -> None:
    result = invoke("ingest", str(chat_file), "--group", "trip", "--path", str(store), "--no-flush")
    assert result.exit_code == 0, result.output
    after = stats(store, group_id="trip")
    assert after.buffered > 0
    found = invoke("search", "Seven Valleys trail", "--group", "trip", "--path", str(store), "--json")
    assert found.exit_code == 0, found.output
    items = json.loads(found.stdout)["items"]
    assert any("Seven Valleys" in item["text"] for item in items)


def test_user_name_and_format_options(invoke, tmp_path: Path, store: Path) -> None:
    log = tmp_path / "log.txt"
    log.write_text(
        "\n".join(
            json.dumps({"role": "user", "content": f"I really enjoy chess openings number {i}"}) for i in range(3)
        )
    )
    result = invoke("ingest", str(log), "--user", "u1", "--user-name", "Sam", "--format", "jsonl", "--path", str(store))
    assert result.exit_code == 0, result.output
    with EverMem(path=store) as mem:
        cells = mem.get(kind="episode", user_id="u1")
    assert {p for c in cells for p in c.participants} == {"Sam"}


def test_ingest_locomo_conversation(invoke, store: Path, tmp_path: Path) -> None:
    if not LOCOMO.exists():
        pytest.skip(f"LoCoMo dev subset not found at {LOCOMO}")
    # Two sessions of the first conversation keep the test fast; the file stays outside the repo.
    first = json.loads(LOCOMO.read_text())[0]
    conversation = {
        k: v for k, v in first["conversation"].items() if not k.startswith("session_") or k.split("_")[1] in ("1", "2")
    }
    small = tmp_path / "locomo-small.json"
    small.write_text(json.dumps([{**first, "conversation": conversation}]))
    sample_id = first["sample_id"]
    result = invoke("ingest", str(small), "--group", sample_id, "--path", str(store))
    assert result.exit_code == 0, result.output
    assert "(locomo)" in result.output
    expected = len(first["conversation"]["session_1"]) + len(first["conversation"]["session_2"])
    with EverMem(path=store) as mem:
        assert mem.stats(group_id=sample_id).messages == expected
        cells = mem.get(kind="episode", group_id=sample_id, limit=1)
    assert cells[0].messages[0].id == "D1:1"
