"""Export / import of a scope: everything it holds moves, nothing is re-derived or lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from evermem_integrations import EverMem
from evermem_integrations.errors import InputError

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
CHAT = [
    ("Priya", "I live in Austin and work as a QA engineer at Dell."),
    ("assistant", "Good to know. How is the new apartment?"),
    ("Priya", "My cat Biscuit loves the balcony. I'm allergic to peanuts."),
    ("Priya", "Next Friday I fly to Lisbon for a conference."),
    ("assistant", "Have a good trip!"),
]
LATER = [
    ("Priya", "Big news: we finally moved to Seattle last week."),
    ("Priya", "I'm now an SDET at Amazon."),
    ("assistant", "Congratulations on the move and the new role!"),
    ("Priya", "I started learning Mandarin on Tuesdays."),
]
QUERIES = ["Where does Priya live?", "What is the cat called?", "Where is the conference?", "Priya's job"]


def _messages(lines: list[tuple[str, str]], start: datetime) -> list[dict[str, Any]]:
    return [
        {
            "sender": sender,
            "role": "assistant" if sender == "assistant" else "user",
            "content": content,
            "timestamp": (start + timedelta(minutes=3 * n)).isoformat(),
        }
        for n, (sender, content) in enumerate(lines)
    ]


@pytest.fixture
def source() -> Iterator[EverMem]:
    """A scope with MemCells, a superseded value, scenes, a profile, settings and a buffered tail."""
    engine = EverMem(path=None)
    engine.set_conversation_meta(user_id="priya", user_details={"Priya": {"hometown": "Pune"}})
    engine.add(_messages(CHAT, START), user_id="priya")
    engine.flush(user_id="priya")
    engine.add(_messages(LATER, START + timedelta(days=20)), user_id="priya")
    engine.flush(user_id="priya")
    engine.add(
        _messages([("Priya", "Remind me to water the plants tonight.")], START + timedelta(days=30)), user_id="priya"
    )
    yield engine
    engine.close()


def _answers(engine: EverMem, **scope: str) -> list[list[tuple[str, str]]]:
    return [[(i.kind, i.text) for i in engine.search(q, **scope).items] for q in QUERIES]


def test_a_scope_moves_to_another_store_with_nothing_lost(source: EverMem) -> None:
    document = source.export_scope(user_id="priya")
    assert document["buffered"], "the fixture leaves a buffered tail"
    target = EverMem(path=None)
    try:
        result = target.import_scope(document)
        assert result.added == len(document["messages"])
        assert target.export_scope(user_id="priya") == document
        assert target.stats(user_id="priya") == source.stats(user_id="priya")
        assert _answers(target, user_id="priya") == _answers(source, user_id="priya")
        # Stored, not re-derived: the tail is still buffered and the profile keeps its history.
        assert [m.content for m in target.get(user_id="priya", kind="raw")] == [
            "Remind me to water the plants tonight."
        ]
        superseded = [p for p in target.get(user_id="priya", kind="profile", limit=100) if p.status == "superseded"]
        assert superseded == [
            p for p in source.get(user_id="priya", kind="profile", limit=100) if p.status == "superseded"
        ]
    finally:
        target.close()


def test_what_was_deleted_stays_deleted(source: EverMem) -> None:
    doomed = next(f for f in source.get(user_id="priya", kind="fact", limit=100) if "peanuts" in f.text)
    source.delete(doomed.id, user_id="priya")
    document = source.export_scope(user_id="priya")
    target = EverMem(path=None)
    try:
        target.import_scope(document)
        assert all("peanuts" not in f.text for f in target.get(user_id="priya", kind="fact", limit=100))
        assert target.export_scope(user_id="priya") == document
    finally:
        target.close()


def test_import_into_another_scope_of_the_same_store_leaves_the_original_alone(source: EverMem) -> None:
    before = source.export_scope(user_id="priya")
    copy = {**before, "scope": {"user_id": "priya-copy", "group_id": None, "agent_id": None}}
    source.import_scope(copy)
    assert source.export_scope(user_id="priya") == before
    assert source.stats(user_id="priya-copy") == source.stats(user_id="priya")
    assert _answers(source, user_id="priya-copy") == _answers(source, user_id="priya")
    # The copy is a tenant of its own: deleting it leaves the original whole.
    source.delete(user_id="priya-copy")
    assert source.export_scope(user_id="priya") == before
    assert source.stats(user_id="priya-copy").messages == 0


def test_importing_the_same_export_twice_changes_nothing(source: EverMem) -> None:
    document = source.export_scope(user_id="priya")
    target = EverMem(path=None)
    try:
        target.import_scope(document)
        again = target.import_scope(document)
        assert again.added == 0
        assert again.skipped == len(document["messages"])
        assert target.export_scope(user_id="priya") == document
    finally:
        target.close()


def test_an_import_over_another_history_is_refused_and_stores_nothing(source: EverMem) -> None:
    document = source.export_scope(user_id="priya")
    target = EverMem(path=None)
    try:
        target.add(_messages([("Priya", "I keep bees on the roof.")], START), user_id="priya")
        before = target.export_scope(user_id="priya")
        with pytest.raises(InputError, match="already holds"):
            target.import_scope(document)
        assert target.export_scope(user_id="priya") == before
        # Merging by re-deriving the memories from the messages is the explicit alternative.
        merged = target.import_scope(document, rederive=True)
        assert merged.added == len(document["messages"])
    finally:
        target.close()


def test_a_messages_only_export_is_rederived(source: EverMem) -> None:
    document = source.export_scope(user_id="priya")
    old = {key: document[key] for key in ("scope", "meta", "messages")} | {"format": "evermem-export/1"}
    target = EverMem(path=None)
    try:
        result = target.import_scope(old)
        assert result.added == len(document["messages"])
        assert target.stats(user_id="priya").memcells > 0
    finally:
        target.close()


def test_a_damaged_export_is_refused_with_what_to_fix(source: EverMem) -> None:
    document = source.export_scope(user_id="priya")
    broken = {**document, "cells": [{"id": "cell_x"}]}
    target = EverMem(path=None)
    try:
        with pytest.raises(InputError, match="cells"):
            target.import_scope(broken)
        assert target.scopes() == []
    finally:
        target.close()


def test_export_survives_json_and_a_persistent_store(source: EverMem, tmp_path: Any) -> None:
    import json

    document = json.loads(json.dumps(source.export_scope(user_id="priya")))
    with EverMem(path=tmp_path / "store") as target:
        target.import_scope(document)
    with EverMem(path=tmp_path / "store") as reopened:
        assert reopened.export_scope(user_id="priya") == document
        assert _answers(reopened, user_id="priya") == _answers(source, user_id="priya")
