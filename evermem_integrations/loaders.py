"""Chat-log loaders: turn the files people already have into EverMem messages.

Three shapes are recognised, so ``evermem ingest FILE`` works on a log as it is:

* **OpenAI-style JSON**: a list of ``{role, content, name?, timestamp?, id?}`` messages, or an
  object holding such a list under ``"messages"`` (content given as a list of parts is
  flattened to its text parts);
* **LoCoMo**: the benchmark's conversation format (read with
  :func:`evermem_integrations.datasets.load_locomo`);
* **JSONL**: one message per line (or one ``{"messages": [...]}`` conversation per line).

Every message leaves with a deterministic id (its own, else a hash of its position, sender
and content) and a timestamp, because EverMem skips known ids: re-loading the same file
yields the same messages, which is what makes an interrupted ingest resumable and a repeated
one a no-op.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evermem_integrations.engine.models import Message, stable_id
from evermem_integrations.errors import EverMemError, InvalidMessageError

if TYPE_CHECKING:
    from evermem_integrations.datasets.locomo import LocomoConversation

LogFormat = Literal["openai", "locomo", "jsonl"]
FORMATS: tuple[str, ...] = ("auto", "openai", "locomo", "jsonl")
MISSING_TIME_SPACING = timedelta(seconds=30)
"""Messages without a timestamp are placed this far after the previous one, keeping their order."""


class ChatLogError(EverMemError, ValueError):
    """A chat-log file cannot be read as messages; the message names the file, line and fix."""


class ChatLog(BaseModel):
    """Messages read from one file, ready for :meth:`EverMem.add`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    format: LogFormat
    messages: list[Message]
    skipped_system: int = Field(default=0, description="system prompts left out (instructions, not conversation)")
    speakers: list[str] = Field(default_factory=list)
    title: str | None = None


def load_chat_log(
    path: str | Path,
    *,
    format: str = "auto",
    user_name: str = "user",
    assistant_name: str = "assistant",
    conversation: str | None = None,
    now: datetime | None = None,
) -> ChatLog:
    """Read a chat log in any supported shape.

    Args:
        path: a ``.json`` or ``.jsonl`` file.
        format: ``auto`` (detect), ``openai``, ``locomo`` or ``jsonl``.
        user_name: sender for ``role: user`` messages without a ``name``.
        assistant_name: sender for ``role: assistant`` messages without a ``name``.
        conversation: for a LoCoMo file with several conversations, the ``sample_id`` to load.
        now: the time given to messages when none in the file has one (default: now).

    Raises:
        ChatLogError: the file is missing, is not JSON/JSONL, or holds no usable messages.

    """
    source = Path(path)
    text = _read(source, format)
    detected = format if format != "auto" else _detect(source, text)
    if detected == "locomo":
        return _load_locomo(source, conversation)
    if detected == "jsonl":
        return _normalise(source, "jsonl", list(_jsonl_records(source, text)), user_name, assistant_name, now, None)
    document = _parse_json(source, text)
    title = document.get("title") if isinstance(document, Mapping) else None
    records = list(_json_records(source, document))
    return _normalise(
        source, "openai", records, user_name, assistant_name, now, title if isinstance(title, str) else None
    )


def load_all_conversations(path: str | Path, *, format: str = "auto") -> list[ChatLog]:
    """Every conversation of a LoCoMo file, one :class:`ChatLog` each (``title`` is its ``sample_id``).

    Raises:
        ChatLogError: the file cannot be read, or it is not in the LoCoMo format.

    """
    source = Path(path)
    text = _read(source, format)
    detected = format if format != "auto" else _detect(source, text)
    if detected != "locomo":
        raise ChatLogError(
            f"--all-conversations reads LoCoMo files; {source} is a{'n' if detected == 'openai' else ''} "
            f"{detected} chat log, which holds one conversation: leave out --all-conversations"
        )
    conversations = _locomo_conversations(source, None)
    if not conversations:
        raise ChatLogError(f"{source}: no LoCoMo conversation in the file")
    return [_locomo_log(source, c) for c in conversations]


def _read(source: Path, format: str) -> str:
    if format not in FORMATS:
        raise ChatLogError(f"unknown format {format!r}; use one of {', '.join(FORMATS)}")
    if not source.exists():
        raise ChatLogError(f"{source}: no such file")
    if source.is_dir():
        raise ChatLogError(f"{source} is a folder; give a .json or .jsonl chat log")
    try:
        text = source.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ChatLogError(
            f"{source} is not UTF-8 text ({exc.reason} at byte {exc.start}); give a JSON or JSONL chat log"
        ) from exc
    if not text.strip():
        raise ChatLogError(f"{source} is empty")
    return text


def _detect(source: Path, text: str) -> LogFormat:
    if source.suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and lines[0].lstrip().startswith("{"):
            return "jsonl"
        raise ChatLogError(f"{source}: not valid JSON or JSONL (line {exc.lineno}: {exc.msg})") from exc
    first = document[0] if isinstance(document, list) and document else document
    if isinstance(first, Mapping) and "conversation" in first and "sample_id" in first:
        return "locomo"
    if isinstance(document, Mapping) and "messages" not in document and ("content" in document or "text" in document):
        return "jsonl"  # a one-line JSONL file
    return "openai"


def _parse_json(source: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChatLogError(f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc


def _locomo_conversations(source: Path, conversation: str | None) -> list[LocomoConversation]:
    from evermem_integrations.datasets import load_locomo

    try:
        return load_locomo(source, [conversation] if conversation else None)
    except (KeyError, TypeError) as exc:
        raise ChatLogError(f"{source}: not a LoCoMo file (missing {exc})") from exc
    except ValueError as exc:
        raise ChatLogError(str(exc)) from exc


def _locomo_log(source: Path, conversation: LocomoConversation) -> ChatLog:
    return ChatLog(
        path=source,
        format="locomo",
        messages=conversation.messages,
        speakers=list(conversation.speakers),
        title=conversation.sample_id,
    )


def _load_locomo(source: Path, conversation: str | None) -> ChatLog:
    conversations = _locomo_conversations(source, conversation)
    if len(conversations) > 1:
        ids = ", ".join(c.sample_id for c in conversations)
        raise ChatLogError(
            f"{source} holds {len(conversations)} LoCoMo conversations ({ids}); pick one with --conversation, "
            "or ingest each into its own scope with --all-conversations"
        )
    if not conversations:
        raise ChatLogError(f"{source}: no LoCoMo conversation in the file")
    return _locomo_log(source, conversations[0])


def _json_records(source: Path, document: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(document, Mapping):
        if "messages" not in document:
            raise ChatLogError(
                f"{source}: a JSON object needs a 'messages' list; give a list of {{role, content}} messages"
            )
        document = document["messages"]
    if not isinstance(document, list):
        raise ChatLogError(f"{source}: expected a list of messages, got {type(document).__name__}")
    for index, record in enumerate(document):
        yield f"message {index}", record


def _jsonl_records(source: Path, text: str) -> Iterable[tuple[str, Any]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ChatLogError(f"{source} line {number}: invalid JSON ({exc.msg})") from exc
        if isinstance(record, Mapping) and isinstance(record.get("messages"), list):
            for index, inner in enumerate(record["messages"]):
                yield f"line {number}, message {index}", inner
        else:
            yield f"line {number}", record


def _normalise(
    source: Path,
    detected: LogFormat,
    records: Sequence[tuple[str, Any]],
    user_name: str,
    assistant_name: str,
    now: datetime | None,
    title: str | None,
) -> ChatLog:
    messages: list[Message] = []
    skipped_system = 0
    drafts: list[tuple[str, dict[str, Any]]] = []
    for position, (where, record) in enumerate(records):
        if not isinstance(record, Mapping):
            raise ChatLogError(f'{source} {where}: a message must be an object like {{"role": ..., "content": ...}}')
        if record.get("role") == "system":
            skipped_system += 1
            continue
        data = _message_fields(source, where, record, user_name, assistant_name)
        data.setdefault("id", stable_id(position, data["sender"], data["content"], prefix="msg_"))
        drafts.append((where, data))
    _fill_missing_times([d for _, d in drafts], now)
    for where, data in drafts:
        try:
            messages.append(Message.model_validate(data))
        except InvalidMessageError as exc:
            raise ChatLogError(f"{source} {where}: {exc}") from None
        except ValidationError as exc:
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}".removeprefix(": ") for e in exc.errors())
            raise ChatLogError(f"{source} {where}: {reasons.replace('Value error, ', '')}") from None
    if not messages:
        raise ChatLogError(f"{source}: no messages found (an empty list, or only system prompts)")
    speakers = list(dict.fromkeys(m.sender for m in messages))
    return ChatLog(
        path=source, format=detected, messages=messages, skipped_system=skipped_system, speakers=speakers, title=title
    )


def _message_fields(
    source: Path, where: str, record: Mapping[str, Any], user_name: str, assistant_name: str
) -> dict[str, Any]:
    content = record.get("content", record.get("text"))
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        content = "\n".join(
            str(part.get("text", "")) if isinstance(part, Mapping) else str(part)
            for part in content
            if not isinstance(part, Mapping) or part.get("type", "text") == "text"
        ).strip()
    if content is None:
        raise ChatLogError(f"{source} {where}: no 'content' (or 'text') field")
    role = record.get("role")
    sender = record.get("sender") or record.get("name") or record.get("speaker")
    if not sender:
        if role == "user":
            sender = user_name
        elif role in ("assistant", "tool"):
            sender = assistant_name if role == "assistant" else "tool"
        else:
            raise ChatLogError(f"{source} {where}: no sender; give 'name' or a 'role' of user/assistant")
    timestamp = next(
        (record[k] for k in ("timestamp", "time", "created_at", "date") if record.get(k) is not None), None
    )
    data: dict[str, Any] = {"sender": sender, "content": content, "timestamp": timestamp}
    if role in ("user", "assistant", "tool"):
        data["role"] = role
    if record.get("id") is not None:
        data["id"] = str(record["id"])
    if isinstance(record.get("metadata"), Mapping):
        data["metadata"] = dict(record["metadata"])
    return data


def _fill_missing_times(drafts: Sequence[dict[str, Any]], now: datetime | None) -> None:
    """Give untimed messages a time that keeps the file's order.

    An untimed message follows the previous message's time by :data:`MISSING_TIME_SPACING`;
    untimed messages before the first timed one lead up to it; a file without any time
    starts at ``now``.
    """
    from evermem_integrations.engine.timeparse import parse_timestamp

    first_known = next((i for i, d in enumerate(drafts) if d.get("timestamp") is not None), None)
    if first_known is None:
        start = now or datetime.now(UTC).replace(microsecond=0)
        for index, data in enumerate(drafts):
            data["timestamp"] = start + index * MISSING_TIME_SPACING
        return
    try:
        anchor = parse_timestamp(drafts[first_known]["timestamp"])
    except InvalidMessageError:
        return  # validation reports the bad timestamp with its position
    for index in range(first_known):
        drafts[index]["timestamp"] = anchor - (first_known - index) * MISSING_TIME_SPACING
    previous = anchor
    for data in drafts[first_known:]:
        if data.get("timestamp") is None:
            data["timestamp"] = previous + MISSING_TIME_SPACING
        try:
            previous = parse_timestamp(data["timestamp"])
        except InvalidMessageError:
            continue
