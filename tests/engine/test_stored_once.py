"""A record's text, id and scene are stored once: in its unit or its columns, not again in its ``data``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson

from evermem_integrations import EverMem
from evermem_integrations.engine import records as records_module
from evermem_integrations.memory import SQLITE_FILE
from tests.engine.layouts import as_layout_13

SCOPE = "user=ana"
CHAT = [
    {"id": "a1", "sender": "Ana", "content": "I moved to Lisbon last spring for a job at the harbour."},
    {"id": "a2", "sender": "Bot", "content": "How do you like it there?"},
    {"id": "a3", "sender": "Ana", "content": "I love it. We plan a trip to Porto next month to see the bridges."},
    {"id": "a4", "sender": "Ana", "content": "My cat Miso likes the balcony.", "metadata": {"topic": "pets"}},
]
for minute, message in enumerate(CHAT):
    message["timestamp"] = f"2024-05-02T10:0{minute}:00Z"


def _fill(path: Path) -> None:
    with EverMem(path=path) as mem:
        mem.add(CHAT, user_id="ana")
        mem.flush(user_id="ana")


def _records(path: Path) -> dict[str, object]:
    """Everything the store gives back of the scope, whole."""
    with EverMem(path=path) as mem:
        cells = mem.records.cells(SCOPE)
        found = mem.search("Where does Ana live?", user_id="ana").items
        return {
            "cells": [cell.model_dump(mode="json") for cell in cells],
            "facts": [f.model_dump(mode="json") for f in mem.records.facts(SCOPE)],
            "foresight": [f.model_dump(mode="json") for f in mem.records.foresight(SCOPE)],
            "messages": [m.model_dump(mode="json") for m in mem.records.all_messages(SCOPE)],
            "found": [(item.id, round(item.score, 6)) for item in found],
        }


def _stored(path: Path, table: str) -> list[dict[str, object]]:
    with sqlite3.connect(path / SQLITE_FILE) as conn:
        return [orjson.loads(data) for (data,) in conn.execute(f"SELECT data FROM {table}")]


def test_a_records_text_id_and_scene_are_not_stored_again_in_its_data(tmp_path: Path) -> None:
    _fill(tmp_path)
    held = _records(tmp_path)
    assert held["facts"] and held["foresight"] and held["cells"]
    assert all(f["text"] for f in [*held["facts"], *held["foresight"]])  # read whole

    assert all("text" not in data for data in [*_stored(tmp_path, "facts"), *_stored(tmp_path, "foresight")])
    messages = _stored(tmp_path, "messages")
    assert all("id" not in data for data in messages)
    assert [data.get("metadata") for data in messages] == [None, None, None, {"topic": "pets"}]
    assert all(not {"id", "scene_id", "facts", "messages"} & data.keys() for data in _stored(tmp_path, "cells"))
    assert [m["id"] for m in held["messages"]] == ["a1", "a2", "a3", "a4"]
    cell = held["cells"][0]
    assert isinstance(cell, dict) and cell["scene_id"] and cell["facts"] and cell["messages"]


def test_a_fact_whose_unit_is_removed_keeps_its_text(tmp_path: Path) -> None:
    _fill(tmp_path)
    with EverMem(path=tmp_path) as mem:
        facts = mem.records.facts(SCOPE)
        foresight = mem.records.foresight(SCOPE)
        mem.records.remove_units(SCOPE, [facts[0].id, foresight[0].id])
        assert mem.records.units(SCOPE, [facts[0].id]) == {}

        assert mem.records.facts(SCOPE) == facts
        assert mem.records.foresight(SCOPE) == foresight
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:  # given back to the row, not read from elsewhere
        (data,) = conn.execute("SELECT data FROM facts WHERE id = ?", (facts[0].id,)).fetchone()
    assert orjson.loads(data)["text"] == facts[0].text


def test_a_store_of_layout_13_is_migrated_with_the_same_records(tmp_path: Path) -> None:
    _fill(tmp_path)
    before = _records(tmp_path)
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        as_layout_13(conn)
    assert all("text" in data for data in _stored(tmp_path, "facts"))

    assert _records(tmp_path) == before
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == records_module.SCHEMA_VERSION
    assert all("text" not in data for data in _stored(tmp_path, "facts"))
    assert all("id" not in data for data in _stored(tmp_path, "messages"))
    with EverMem(path=tmp_path) as mem:  # what was said is known by its content key, whatever its id
        mem.add([{**message, "id": f"again-{message['id']}"} for message in CHAT], user_id="ana")
        mem.add([{**CHAT[0], "id": "new", "timestamp": "2024-05-02T10:09:00Z"}], user_id="ana")
        assert [m.id for m in mem.records.all_messages(SCOPE)] == ["a1", "a2", "a3", "a4", "new"]
