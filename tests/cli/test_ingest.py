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


def _locomo_conversation(sample_id: str, speakers: tuple[str, str], lines: list[str]) -> dict:
    a, b = speakers
    turns = [{"speaker": (a, b)[i % 2], "dia_id": f"D1:{i + 1}", "text": text} for i, text in enumerate(lines)]
    return {
        "sample_id": sample_id,
        "qa": [],
        "conversation": {
            "speaker_a": a,
            "speaker_b": b,
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": turns,
        },
    }


@pytest.fixture
def locomo_file(tmp_path: Path) -> Path:
    """A small LoCoMo-format file with two conversations."""
    data = [
        _locomo_conversation("conv-a", ("Ann", "Bo"), ["I adopted a cat named Miso.", "Lovely! How old is she?"]),
        _locomo_conversation(
            "conv-b", ("Cy", "Di"), ["I start a pottery class on Monday.", "Great, send pictures.", "I will!"]
        ),
    ]
    path = tmp_path / "locomo-two.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_ingest_every_locomo_conversation_into_its_own_scope(invoke, locomo_file: Path, store: Path) -> None:
    result = invoke("ingest", str(locomo_file), "--all-conversations", "--path", str(store))
    assert result.exit_code == 0, result.output
    assert "group=conv-a" in result.output and "group=conv-b" in result.output
    assert "2 conversations" in result.output
    assert stats(store, group_id="conv-a").messages == 2
    assert stats(store, group_id="conv-b").messages == 3
    again = invoke("ingest", str(locomo_file), "--all-conversations", "--path", str(store))
    assert again.exit_code == 0, again.output
    assert "0 new, 3 already stored" in again.output
    with EverMem(path=store) as mem:
        assert sorted(s.key for s in mem.scopes()) == ["group=conv-a", "group=conv-b"]


def test_all_conversations_keeps_a_user_or_agent_id(invoke, locomo_file: Path, store: Path) -> None:
    result = invoke("ingest", str(locomo_file), "--all-conversations", "--user", "me", "--path", str(store))
    assert result.exit_code == 0, result.output
    assert "user=me + group=conv-a" in result.output
    assert stats(store, user_id="me", group_id="conv-b").messages == 3


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (("--conversation", "conv-a"), "--conversation or --all-conversations, not both"),
        (("--group", "g"), "each conversation goes into the group named by its sample_id; leave out --group"),
    ],
)
def test_all_conversations_rejects_conflicting_options(
    invoke, locomo_file: Path, store: Path, extra: tuple[str, ...], fragment: str
) -> None:
    result = invoke("ingest", str(locomo_file), "--all-conversations", *extra, "--path", str(store))
    assert result.exit_code == 2 and fragment in result.stderr, result.output
    assert not store.exists()


def test_a_file_of_several_conversations_names_both_ways(invoke, locomo_file: Path, store: Path) -> None:
    result = invoke("ingest", str(locomo_file), "--group", "g", "--path", str(store))
    assert result.exit_code == 2
    assert "conv-a, conv-b" in result.stderr and "--conversation" in result.stderr
    assert "--all-conversations" in result.stderr


def test_all_conversations_needs_a_locomo_file(invoke, chat_file: Path, store: Path) -> None:
    result = invoke("ingest", str(chat_file), "--all-conversations", "--user", "u", "--path", str(store))
    assert result.exit_code == 2 and "--all-conversations reads LoCoMo files" in result.stderr, result.output
