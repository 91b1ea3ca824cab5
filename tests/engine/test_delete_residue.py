"""After each kind of delete, open SQLite and Chroma directly and look for what should be gone."""

import json
import sqlite3
from pathlib import Path

import chromadb
import pytest
from chromadb.config import Settings

from evermem_integrations import EverMem
from evermem_integrations.engine.embeddings import StaticEmbedder
from evermem_integrations.engine.models import stable_id
from evermem_integrations.engine.vectors import EXACT_SCOPE_VECTORS, ChromaVectorIndex
from evermem_integrations.memory import SQLITE_FILE
from tests.engine.test_lifecycle import BOSTON, DENVER
from tests.engine.write_path_support import upsert_units

# Words said only in BOSTON's first message ("I live in Boston with my partner and our dog Pixel.")
M0_WORDS = ("Pixel", "partner")
# Words said only in the BOSTON episode (m0 to m3), never in DENVER
BOSTON_WORDS = ("Pixel", "partner", "nurse", "hospital", "marathon", "winter")
TEXT_COLUMNS = {
    "messages": ("data",),
    "cells": ("data",),
    "facts": ("data",),
    "foresight": ("data",),
    "scenes": ("data",),
    "profile": ("data",),
    "units": ("text", "data", "context", "lexical"),
}


@pytest.fixture(params=[0, EXACT_SCOPE_VECTORS], ids=["chroma", "exact"])
def exact_limit(request: pytest.FixtureRequest) -> int:
    """Each test runs with its vectors in Chroma, and searched exactly in the record store."""
    return int(request.param)


def stored(path: Path, exact_limit: int = EXACT_SCOPE_VECTORS) -> EverMem:
    mem = EverMem(path=path, exact_search_vectors=exact_limit)
    mem.add(BOSTON + DENVER, user_id="ana")  # the 150-day gap closes the BOSTON episode at once
    mem.flush(user_id="ana")
    return mem


def units_from(mem: EverMem, message_ids: set[str]) -> set[str]:
    """Ids of the units drawn from any of ``message_ids`` (source ids or profile evidence)."""
    rows = mem.records._rows("SELECT id, data FROM units WHERE scope = (SELECT id FROM scopes WHERE key = 'user=ana')")
    found = set()
    for row in rows:
        data = json.loads(row["data"])
        if message_ids & set(data.get("source_message_ids") or []) | message_ids & set(data.get("evidence") or []):
            found.add(row["id"])
    found |= {i.id for i in mem.records.profile_items("user=ana") if message_ids & set(i.evidence)}
    return found | {stable_id("user=ana", m, prefix="raw_") for m in message_ids}


def sqlite_residue(path: Path, words: tuple[str, ...]) -> list[str]:
    """Where in our SQLite file any of ``words`` still appears."""
    found = []
    with sqlite3.connect(path / SQLITE_FILE) as conn:
        for table, columns in TEXT_COLUMNS.items():
            for column in columns:
                for word in words:
                    (n,) = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", [f"%{word}%"]).fetchone()
                    if n:
                        found.append(f"{table}.{column}: {word}")
        # The lexical index holds no text, only its terms.
        found += [f"units_fts: {word}" for word in words if _indexed(conn, word)]
    return found


def _indexed(conn: sqlite3.Connection, word: str) -> bool:
    (n,) = conn.execute("SELECT count(*) FROM units_fts WHERE units_fts MATCH ?", [f'body : "{word}"']).fetchone()
    return bool(n)


ANA_TAG = ChromaVectorIndex._tag("user=ana")


def chroma_residue(path: Path, ids: set[str], words: tuple[str, ...] = ()) -> list[str]:
    """Where in Chroma (its API, then chroma.sqlite3) any of ``ids`` (as stored: tagged or not) or ``words`` appears."""
    found = []
    ids = ids | {ANA_TAG + i for i in ids}
    client = chromadb.PersistentClient(path=str(path / "chroma"), settings=Settings(anonymized_telemetry=False))
    for collection in client.list_collections():
        hits = client.get_collection(collection.name).get(ids=sorted(ids), include=[])["ids"] if ids else []
        found += [f"collection {collection.name}: {i}" for i in hits]
    marks = ",".join("?" * len(ids))
    with sqlite3.connect(path / SQLITE_FILE) as conn:
        # An exact vector belongs to the units of its text: one no unit holds is residue.
        rows = conn.execute(
            "SELECT vector_key FROM exact_vectors e WHERE NOT EXISTS "
            "(SELECT 1 FROM units u WHERE u.scope = e.scope AND u.vector_key = e.vector_key)"
        ).fetchall()
        found += [f"exact_vectors: no unit's {r[0]}" for r in rows]
    with sqlite3.connect(path / "chroma" / "chroma.sqlite3") as conn:
        for table, column in (("embeddings", "embedding_id"), ("embeddings_queue", "id")):
            rows = conn.execute(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", sorted(ids)).fetchall()
            found += [f"{table}: {r[0]}" for r in rows]
        for word in words:
            for table, column in (("embedding_metadata", "string_value"), ("embeddings_queue", "metadata")):
                (n,) = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} LIKE ?", [f"%{word}%"]).fetchone()
                if n:
                    found.append(f"{table}.{column}: {word}")
    return found


def segment_folders(path: Path) -> set[str]:
    return {p.name for p in (path / "chroma").iterdir() if p.is_dir()}


def test_deleting_a_message_of_a_memcell_leaves_nothing_of_it(tmp_path: Path, exact_limit: int) -> None:
    mem = stored(tmp_path, exact_limit)
    (old,) = [c for c in mem.get(user_id="ana", kind="episode") if "m0" in c.source_message_ids]
    derived = units_from(mem, {"m0"}) | {f"{old.id}:episode"}
    assert sqlite_residue(tmp_path, M0_WORDS) and derived  # there is something to forget

    mem.delete("m0", user_id="ana")

    cells = mem.get(user_id="ana", kind="episode")
    rebuilt = next(c for c in cells if "m2" in c.source_message_ids)
    assert rebuilt.source_message_ids == ["m1", "m2", "m3"]  # re-derived from what remains
    assert any("nurse" in f.text for f in rebuilt.facts)
    live = [f.id for f in rebuilt.facts]
    assert "Pixel" not in mem.search("Ana's dog Pixel partner", user_id="ana").context
    assert mem.search("Where does Ana work?", user_id="ana").items
    profile = mem.records.profile_items("user=ana")
    assert profile and all("m0" not in item.evidence for item in profile)
    mem.close()

    assert sqlite_residue(tmp_path, M0_WORDS) == []
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT count(*) FROM messages WHERE id = 'm0'").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM units_fts WHERE units_fts MATCH 'pixel'").fetchone() == (0,)
        marks = ",".join("?" * len(derived))
        assert conn.execute(f"SELECT id FROM units WHERE id IN ({marks})", sorted(derived)).fetchall() == []
    assert chroma_residue(tmp_path, derived, M0_WORDS) == []
    live = [ANA_TAG + i for i in live] if exact_limit == 0 else live
    if exact_limit:  # the re-derived vectors stay where the scope's vectors are
        assert {f"exact_vectors: {i}" for i in live} <= set(vectors_of(tmp_path, "user=ana"))
        return
    # The re-derived vectors stay, in the index and in the log Chroma replays them from.
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False))
    items = client.get_collection(mem.vectors.index._name("user=ana", "items"))  # type: ignore[attr-defined]
    assert sorted(items.get(ids=live, include=[])["ids"]) == sorted(live)
    with sqlite3.connect(tmp_path / "chroma" / "chroma.sqlite3") as conn:
        logged = {r[0] for r in conn.execute("SELECT id FROM embeddings_queue WHERE operation = 2")}
    assert set(live) <= logged


def test_deleting_the_last_message_of_a_memcell_drops_the_memcell(tmp_path: Path, exact_limit: int) -> None:
    mem = stored(tmp_path, exact_limit)
    (old,) = [c for c in mem.get(user_id="ana", kind="episode") if "d0" in c.source_message_ids]
    for message in ("d0", "d1", "d2"):
        mem.delete(message, user_id="ana")
    assert [c.source_message_ids for c in mem.get(user_id="ana", kind="episode")] == [["m0", "m1", "m2", "m3"]]
    assert mem.stats(user_id="ana").buffered == 0
    mem.close()
    assert sqlite_residue(tmp_path, ("Denver", "unpacking")) == []
    assert chroma_residue(tmp_path, {f"{old.id}:episode", *(f.id for f in old.facts)}) == []


def test_deleting_a_memcell_removes_what_was_drawn_from_it(tmp_path: Path, exact_limit: int) -> None:
    mem = stored(tmp_path, exact_limit)
    (old,) = [c for c in mem.get(user_id="ana", kind="episode") if "m0" in c.source_message_ids]
    sources = set(old.source_message_ids)
    derived = units_from(mem, sources) | {f"{old.id}:episode"} | {f.id for f in old.facts + old.foresight}
    drawn = [i.id for i in mem.records.profile_items("user=ana") if set(i.evidence) & sources]
    assert drawn  # the BOSTON episode fed the profile (occupation: nurse, residence: Boston)

    mem.delete(old.id)

    assert all(not set(i.evidence) & sources for i in mem.records.profile_items("user=ana"))
    assert [p for p in mem.get_profile(user_id="ana", include_history=True) if "nurse" in str(p.model_dump())] == []
    assert "nurse" not in mem.search("What is Ana's job? nurse hospital", user_id="ana").context
    mem.close()

    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        for table, column in (("facts", "cell_id"), ("foresight", "cell_id"), ("units", "cell_id"), ("cells", "id")):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = ?", [old.id]).fetchone() == (0,)
        marks = ",".join("?" * len(drawn))
        assert conn.execute(f"SELECT id FROM profile WHERE id IN ({marks})", drawn).fetchall() == []
        assert conn.execute(f"SELECT id FROM units WHERE id IN ({marks})", drawn).fetchall() == []
    assert sqlite_residue(tmp_path, BOSTON_WORDS) == []
    assert chroma_residue(tmp_path, derived | set(drawn), BOSTON_WORDS) == []


def chroma_rows_of(path: Path, scope: str) -> list[str]:
    """Vectors of ``scope`` in any collection, and log entries of its ids, read from Chroma's API and file."""
    client = chromadb.PersistentClient(path=str(path / "chroma"), settings=Settings(anonymized_telemetry=False))
    found = [
        f"{listed.name}: {i}"
        for listed in client.list_collections()
        for i in client.get_collection(listed.name).get(where={"scope": scope}, include=[])["ids"]
    ]
    tag = ChromaVectorIndex._tag(scope)
    with sqlite3.connect(path / "chroma" / "chroma.sqlite3") as conn:
        for table, column in (("embeddings", "embedding_id"), ("embeddings_queue", "id")):
            rows = conn.execute(f"SELECT {column} FROM {table} WHERE {column} LIKE ?", [f"{tag}%"]).fetchall()
            found += [f"{table}: {r[0]}" for r in rows]
    chromadb.api.client.SharedSystemClient.clear_system_cache()
    return found


def vectors_of(path: Path, scope: str) -> list[str]:
    """Vectors of ``scope`` anywhere: searched exactly in the record store, or in Chroma (index and log)."""
    with sqlite3.connect(path / SQLITE_FILE) as conn:
        rows = conn.execute(
            "SELECT coalesce(u.id, 'no unit''s ' || e.vector_key) FROM exact_vectors e "
            "LEFT JOIN units u ON u.scope = e.scope AND u.vector_key = e.vector_key "
            "WHERE e.scope = (SELECT id FROM scopes WHERE key = ?)",
            [scope],
        ).fetchall()
    return [f"exact_vectors: {r[0]}" for r in rows] + chroma_rows_of(path, scope)


def test_deleting_a_scope_leaves_no_row_and_no_vector(tmp_path: Path, exact_limit: int) -> None:
    mem = stored(tmp_path, exact_limit)
    mem.add([{"id": "o1", "sender": "Bo", "content": "I live in Oslo."}], user_id="bo")
    assert vectors_of(tmp_path, "user=ana") and vectors_of(tmp_path, "user=bo")

    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        (ana,) = conn.execute("SELECT id FROM scopes WHERE key = 'user=ana'").fetchone()
    assert mem.delete(user_id="ana") == 1
    mem.close()

    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT key FROM scopes").fetchall() == [("user=bo",)]  # the key is gone too
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for table in tables:
            columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]
            if "scope" in columns:
                assert conn.execute(f"SELECT count(*) FROM {table} WHERE scope = ?", (ana,)).fetchone() == (0,), table
    assert sqlite_residue(tmp_path, ("Boston", "Denver", *BOSTON_WORDS)) == []
    assert vectors_of(tmp_path, "user=ana") == []
    assert chroma_residue(tmp_path, set(), ("Boston", "Denver", *BOSTON_WORDS)) == []
    assert vectors_of(tmp_path, "user=bo")  # the other tenant is untouched
    with EverMem(path=tmp_path) as reopened:
        assert reopened.search("Oslo", user_id="bo").items


def test_vector_deletes_accept_an_id_twice(tmp_path: Path) -> None:
    with EverMem(path=tmp_path) as mem:
        vectors = mem.embedder.embed(["one", "two"])
        upsert_units(mem, ["a", "b"], vectors, "user=x", ["fact", "fact"])
        mem.vectors.delete("user=x", ["a", "a", "b"])
        assert mem.vectors.query(vectors[0], "user=x", ["fact"], 5) == []


def test_log_purge_keeps_a_persisted_index_consistent_after_a_restart(tmp_path: Path) -> None:
    """With an HNSW index persisted mid-way, Chroma replays the purged log to the same vectors."""
    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False))
    mem = EverMem(path=tmp_path, chroma_client=client, exact_search_vectors=0)
    items = mem.vectors.index._name("user=ana", "items")  # type: ignore[attr-defined]
    client.create_collection(  # persisted every 10 writes instead of 1,000
        items, configuration={"hnsw": {"space": "cosine", "sync_threshold": 10, "batch_size": 10}}
    )
    mem.add(BOSTON + DENVER, user_id="ana")
    mem.flush(user_id="ana")
    with sqlite3.connect(tmp_path / "chroma" / "chroma.sqlite3") as conn:
        assert conn.execute(
            "SELECT count(*) FROM max_seq_id m JOIN segments s ON s.id = m.segment_id WHERE s.scope = 'VECTOR'"
        ).fetchone()[0]  # the index was persisted
    derived = units_from(mem, {"m0"})
    mem.delete("m0", user_id="ana")
    mem.delete("d1", user_id="ana")
    kinds = ("fact", "message", "foresight", "profile")
    live = {u for k in kinds for u in mem.records.unit_ids_of_kind("user=ana", k)}
    mem.close()
    chromadb.api.client.SharedSystemClient.clear_system_cache()  # a new process: the log is replayed

    client = chromadb.PersistentClient(path=str(tmp_path / "chroma"), settings=Settings(anonymized_telemetry=False))
    collection = client.get_collection(items)
    probe = StaticEmbedder().embed(["Ana"])
    hits = collection.query(query_embeddings=probe, n_results=100, include=[])["ids"][0]
    found = {i.removeprefix(ANA_TAG) for i in hits}
    assert found == live
    assert not derived & found
