"""Scopes are named by number in every table: the key is stored once, and a store of layout 12 migrates."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from evermem_integrations import EverMem
from evermem_integrations.engine import records as records_module
from evermem_integrations.memory import SQLITE_FILE
from tests.engine.layouts import as_layout_12

USER = "3f2a9c1e-7b44-4d0a-9e1f-5c6d7e8f9a0b"  # a UUID, as real user ids often are
KEY = f"group=team|user={USER}"


def _chat(name: str, city: str, pet: str) -> list[dict[str, str]]:
    return [
        {"id": f"{name}-1", "sender": name, "content": f"I moved to {city} last spring for a job at the harbour."},
        {"id": f"{name}-2", "sender": "Bot", "content": "How do you like it there?"},
        {"id": f"{name}-3", "sender": name, "content": f"I love it. My cat {pet} likes the balcony."},
        {"id": f"{name}-4", "sender": name, "content": "I play the cello in a quartet on Thursdays."},
    ]


def _fill(path: Path) -> None:
    with EverMem(path=path) as mem:
        mem.add(_chat("Ana", "Lisbon", "Miso"), user_id=USER, group_id="team")
        mem.flush(user_id=USER, group_id="team")
        mem.add(_chat("Bo", "Oslo", "Pixel"), user_id="bo")
        mem.flush(user_id="bo")


def _answers(path: Path) -> dict[str, object]:
    with EverMem(path=path) as mem:
        found: dict[str, object] = {
            question: [(item.id, round(item.score, 6)) for item in mem.search(question, **scope).items]
            for question, scope in (
                ("Where does Ana live?", {"user_id": USER, "group_id": "team"}),
                ("What is the cat called?", {"user_id": USER, "group_id": "team"}),
                ("Where does Bo live?", {"user_id": "bo"}),
            )
        }
        found["memories"] = sorted(m.id for m in mem.get(user_id=USER, group_id="team"))
        found["profile"] = sorted(p.id for p in mem.records.profile_items(KEY))
        found["scopes"] = [scope.key for scope in mem.scopes()]
    return found


def _cells_holding(conn: sqlite3.Connection, text: str) -> list[str]:
    """``table.column`` of every text cell outside ``scopes`` that holds ``text``."""
    found = []
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        if table == "scopes" or table.startswith(("units_fts", "sqlite_")):
            continue
        for column in [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]:
            hits = conn.execute(f"SELECT count(*) FROM {table} WHERE instr(CAST({column} AS TEXT), ?)", (text,))
            if hits.fetchone()[0]:
                found.append(f"{table}.{column}")
    return found


def test_a_scopes_key_is_stored_once(tmp_path: Path) -> None:
    _fill(tmp_path)
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT count(*) FROM scopes WHERE key = ?", (KEY,)).fetchone() == (1,)

        assert _cells_holding(conn, USER) == []


def test_a_store_of_layout_12_is_migrated_with_the_same_memories(tmp_path: Path) -> None:
    _fill(tmp_path)
    before = _answers(tmp_path)
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        as_layout_12(conn)
        assert _cells_holding(conn, "user=bo")  # each row named its scope by key
    assert _answers(tmp_path) == before
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == records_module.SCHEMA_VERSION
        assert sorted(key for (key,) in conn.execute("SELECT key FROM scopes")) == sorted([KEY, "user=bo"])
        assert _cells_holding(conn, "user=bo") == []
    with EverMem(path=tmp_path) as mem:  # written to and deleted from as any store
        mem.add([{"id": "Bo-5", "sender": "Bo", "content": "I adopted a second cat, Tofu."}], user_id="bo")
        mem.flush(user_id="bo")
        assert "Tofu" in mem.search("Bo's second cat", user_id="bo").context
        assert mem.delete(user_id=USER, group_id="team") == 1
        assert [scope.key for scope in mem.scopes()] == ["user=bo"]
        assert "Lisbon" not in mem.search("Where does Ana live?", user_id="bo").context


def test_a_scope_written_again_after_its_delete_starts_empty(tmp_path: Path) -> None:
    _fill(tmp_path)
    with EverMem(path=tmp_path) as mem, EverMem(path=tmp_path) as other:
        assert "Oslo" in other.search("Where does Bo live?", user_id="bo").context
        mem.delete(user_id="bo")
        mem.add([{"id": "n1", "sender": "Bo", "content": "I am new here and I like chess."}], user_id="bo")
        mem.flush(user_id="bo")
        for reader in (mem, other):  # another process's store looks the number up anew
            found = reader.search("Where does Bo live? chess", user_id="bo").context
            assert "chess" in found and "Oslo" not in found
