"""Helpers of the write-path tests: a scripted extractor, a store snapshot, and a writer script."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evermem_integrations import EverMem
from evermem_integrations.engine.extraction import Extraction, OfflineExtractor, ProfileDraft
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.records import Unit
from evermem_integrations.engine.vectors import VectorIndex


class ResidenceExtractor:
    """Each episode states one residence ("I live in X"): every episode supersedes the last."""

    def extract(self, messages: Sequence[Message], participants: Sequence[str]) -> Extraction:
        last = messages[-1]
        city = last.content.rsplit(" ", 1)[-1].rstrip(".")
        return Extraction(
            title=f"moving, {city}",
            episode=f"{last.sender} lives in {city}.",
            profile=[
                ProfileDraft(
                    subject=last.sender,
                    category="trait",
                    attribute="residence",
                    value=city,
                    text=f"{last.sender} lives in {city}.",
                    evidence=[last.id],
                    timestamp=last.timestamp,
                )
            ],
        )


class SlowExtractor:
    """The offline extractor taking as long as a quick LLM call: widens the window between reading
    the buffer and storing the MemCells, where concurrent writers used to cut the same messages."""

    def __init__(self, delay: float = 0.02) -> None:
        self.inner = OfflineExtractor()
        self.delay = delay

    def extract(self, messages: Sequence[Message], participants: Sequence[str]) -> Extraction:
        time.sleep(self.delay)
        return self.inner.extract(messages, participants)


class EveryMessage:
    """A boundary after every message: each message is an episode of its own."""

    def cuts(self, messages: Sequence[Message], *, final: bool) -> list[int]:
        return list(range(1, len(messages) + (1 if final else 0)))


def conversation(count: int, *, prefix: str = "m") -> list[dict[str, Any]]:
    """A deterministic two-person chat with facts, plans and topic changes."""
    topics = [
        "I adopted a cat named Miso last week.",
        "We are flying to Lisbon on 14 June 2024 for a wedding.",
        "I started a new job at the bakery on Monday.",
        "My sister Ana moved to Denver yesterday.",
        "I have been training for the marathon, running 40 km a week.",
        "The dentist appointment is next Tuesday at 3pm.",
        "I finally finished reading the book about volcanoes.",
        "I live in Boston now.",
    ]
    messages = []
    for n in range(count):
        sender = "Maya" if n % 2 == 0 else "Leo"
        text = topics[n % len(topics)] if n % 3 else f"How was your day, part {n // 3}?"
        day = 1 + n // 6
        messages.append(
            {
                "id": f"{prefix}{n}",
                "sender": sender,
                "content": f"{text} (note {n})",
                "timestamp": f"2024-03-{min(day, 28):02d}T{8 + n % 12:02d}:{n % 60:02d}:00Z",
            }
        )
    return messages


def snapshot(path: Path) -> dict[str, Any]:
    """What a store holds, table by table, in a form two runs can be compared in."""
    conn = sqlite3.connect(path / "evermem.sqlite3")
    try:
        tables = {
            "messages": "SELECT s.key, m.id, m.cell_id FROM messages AS m "
            "JOIN scopes AS s ON s.id = m.scope ORDER BY s.key, m.id",
            "cells": "SELECT c.id, s.key, c.scene_id, c.data FROM cells AS c "
            "JOIN scopes AS s ON s.id = c.scope ORDER BY c.id",
            "facts": "SELECT id, superseded_by, data FROM facts ORDER BY id",
            "foresight": "SELECT id, data FROM foresight ORDER BY id",
            "scenes": "SELECT id, size, data FROM scenes ORDER BY id",
            "profile": "SELECT id, status, data FROM profile ORDER BY id",
            "units": "SELECT id, kind, text FROM units ORDER BY id",
            "outbox": "SELECT s.key, o.unit_id FROM vector_outbox AS o JOIN scopes AS s ON s.id = o.scope",
        }
        return {name: conn.execute(sql).fetchall() for name, sql in tables.items()} | {"fts": lexical_index(conn)}
    finally:
        conn.close()


def lexical_index(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
    """Every term the FTS5 index holds: ``(unit id, term, column, position)``, the id None for an entry of no unit."""
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.units_vocab USING fts5vocab(main, units_fts, instance)")
    return conn.execute(
        "SELECT u.id, v.term, v.col, v.offset FROM temp.units_vocab v LEFT JOIN units u ON u.rowid = v.doc "
        "ORDER BY u.id, v.col, v.offset"
    ).fetchall()


def upsert_units(
    mem: EverMem, ids: Sequence[str], vectors: Any, scope: str, kinds: Sequence[str], index: VectorIndex | None = None
) -> None:
    """Store units of distinct texts, then their vectors: the exact tier holds the vectors of stored units."""
    mem.records.put_units([Unit(i, scope, k, f"unit {i}", None, None, {}) for i, k in zip(ids, kinds, strict=True)])
    (index or mem.vectors).upsert(ids, vectors, scope, kinds)


def whole_unit_records(conn: sqlite3.Connection) -> None:
    """Units' records as layouts before 10 stored them: with the subject, role and message their columns hold."""
    conn.execute("UPDATE units SET data = json_set(data, '$.subject', subject) WHERE subject IS NOT NULL")
    conn.execute("UPDATE units SET data = json_set(data, '$.role', role) WHERE role IS NOT NULL")
    conn.execute(
        "UPDATE units SET data = json_set(data, '$.source_message_ids', json_array(message_id)) "
        "WHERE message_id IS NOT NULL"
    )


def vector_ids(mem: EverMem, scope: str) -> set[str]:
    """Every id the vector index holds for a scope: searched exactly in the record store, or in Chroma."""
    found = set(mem.records.exact_vectors(scope)[0])
    index = mem.vectors.index  # type: ignore[attr-defined]
    tag = index._tag(scope)
    for group in ("episodes", "items"):
        collection = index._collection(scope, group)
        found.update(i.removeprefix(tag) for i in collection.get(where={"scope": scope}, include=[])["ids"])
    return found


def unit_ids(path: Path, scope: str) -> set[str]:
    """Every unit id SQLite holds for a scope."""
    conn = sqlite3.connect(path / "evermem.sqlite3")
    try:
        return {
            row[0]
            for row in conn.execute(
                "SELECT id FROM units WHERE scope = (SELECT id FROM scopes WHERE key = ?)",
                (scope,),
            )
        }
    finally:
        conn.close()


def open_records_at(path: str, start: float) -> str:
    """Open the SQLite records at ``path`` once ``time.time()`` reaches ``start``; the error, or ``""``."""
    from evermem_integrations.engine.records import SQLiteRecordStore

    time.sleep(max(0.0, start - time.time()))
    try:
        SQLiteRecordStore(path).close()
    except Exception as exc:  # the test reports what each process met
        return repr(exc)
    return ""
