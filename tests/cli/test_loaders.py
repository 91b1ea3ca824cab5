"""Chat-log loaders: the three shapes, deterministic ids, times that keep order, clear errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from evermem_integrations.loaders import ChatLogError, load_chat_log

REPO = Path(__file__).resolve().parents[2]
LOCOMO = REPO.parent / "shared" / "data" / "locomo" / "locomo-dev.json"


def write(tmp_path: Path, name: str, data: object) -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def test_openai_list_maps_roles_names_and_skips_system(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "chat.json",
        [
            {"role": "system", "content": "Be nice."},
            {"role": "user", "content": "I moved to Oslo.", "timestamp": "2025-01-02T10:00:00Z"},
            {"role": "assistant", "content": "How is Oslo?", "timestamp": "2025-01-02T10:01:00Z"},
            {
                "role": "user",
                "name": "Kari",
                "content": [{"type": "text", "text": "Cold!"}, {"type": "image_url", "image_url": {"url": "x"}}],
            },
        ],
    )
    log = load_chat_log(path, user_name="ola")
    assert log.format == "openai"
    assert log.skipped_system == 1
    assert [m.sender for m in log.messages] == ["ola", "assistant", "Kari"]
    assert [m.role for m in log.messages] == ["user", "assistant", "user"]
    assert log.messages[2].content == "Cold!"
    # the untimed last message follows the previous one, keeping the order
    assert log.messages[2].timestamp > log.messages[1].timestamp


def test_ids_are_deterministic_and_position_aware(tmp_path: Path) -> None:
    path = write(
        tmp_path, "chat.json", {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "ok"}]}
    )
    first = load_chat_log(path, now=datetime(2025, 1, 1, tzinfo=UTC))
    again = load_chat_log(path, now=datetime(2025, 6, 1, tzinfo=UTC))
    assert [m.id for m in first.messages] == [m.id for m in again.messages]
    assert len({m.id for m in first.messages}) == 2  # the same words at two positions are two messages


def test_explicit_ids_and_leading_untimed_messages(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "chat.json",
        [
            {"id": 7, "name": "A", "content": "first words here"},
            {"id": "x", "name": "B", "content": "second words here", "timestamp": 1735819200},
        ],
    )
    log = load_chat_log(path)
    assert [m.id for m in log.messages] == ["7", "x"]
    assert log.messages[0].timestamp < log.messages[1].timestamp == datetime(2025, 1, 2, 12, tzinfo=UTC)


def test_jsonl_messages_and_conversations_per_line(tmp_path: Path) -> None:
    lines = [
        json.dumps({"sender": "Ana", "text": "Booked the train to Porto.", "time": "2025-02-01 09:00"}),
        "",
        json.dumps(
            {"messages": [{"role": "user", "content": "hello there friend"}, {"role": "assistant", "content": "hi!"}]}
        ),
    ]
    log = load_chat_log(write(tmp_path, "chat.jsonl", "\n".join(lines)))
    assert log.format == "jsonl"
    assert [m.sender for m in log.messages] == ["Ana", "user", "assistant"]
    assert log.messages[0].content == "Booked the train to Porto."


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("[1, 2", "not valid JSON"),
        ('{"a": 1}\n{"b": ', "line 2: invalid JSON"),
        ("", "is empty"),
        ('{"title": "x"}', "needs a 'messages' list"),
        ("[]", "no messages found"),
        ('[{"role": "user"}]', "message 0: no 'content'"),
        ('[{"content": "hi there"}]', "no sender"),
        ('[{"role": "user", "content": "  "}]', "message 0: content: message content is empty"),
        (
            '[{"role": "user", "content": "hi", "timestamp": "not a time"}]',
            "message 0: timestamp: cannot read timestamp",
        ),
        ("[3]", "a message must be an object"),
    ],
)
def test_errors_name_the_file_position_and_fix(tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, "bad.json" if not content.startswith('{"a"') else "bad.jsonl", content)
    with pytest.raises(ChatLogError, match=r"bad\.json") as excinfo:
        load_chat_log(path)
    assert expected in str(excinfo.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(ChatLogError, match="no such file"):
        load_chat_log(tmp_path / "nope.json")
    with pytest.raises(ChatLogError, match="is a folder"):
        load_chat_log(tmp_path)
    with pytest.raises(ChatLogError, match="unknown format"):
        load_chat_log(tmp_path / "x.json", format="csv")


def test_locomo_format_is_detected_and_needs_a_conversation_choice(tmp_path: Path) -> None:
    if not LOCOMO.exists():
        pytest.skip(f"LoCoMo dev subset not found at {LOCOMO}")
    raw = json.loads(LOCOMO.read_text(encoding="utf-8"))
    if len(raw) > 1:
        with pytest.raises(ChatLogError, match="pick one with --conversation"):
            load_chat_log(LOCOMO)
    sample_id = raw[0]["sample_id"]
    log = load_chat_log(LOCOMO, conversation=sample_id)
    assert log.format == "locomo"
    assert log.messages[0].id == "D1:1"  # dia_id kept, so evidence ids map to source messages
    assert set(log.speakers) == {raw[0]["conversation"]["speaker_a"], raw[0]["conversation"]["speaker_b"]}
    with pytest.raises(ChatLogError, match="not in"):
        load_chat_log(LOCOMO, conversation="conv-does-not-exist")


def test_single_line_jsonl_and_extension(tmp_path: Path) -> None:
    one = write(tmp_path, "one.json", json.dumps({"role": "user", "content": "just one line of chat"}))
    assert load_chat_log(one).format == "jsonl"
    by_name = write(tmp_path, "two.jsonl", json.dumps({"messages": [{"role": "user", "content": "hello again"}]}))
    assert [m.content for m in load_chat_log(by_name).messages] == ["hello again"]
