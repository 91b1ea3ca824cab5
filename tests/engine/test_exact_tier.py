"""Small scopes are searched exactly in the record store; a scope past the limit moves to Chroma once."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evermem_integrations import EverMem, SearchResult
from evermem_integrations.engine.filters import matches, parse
from evermem_integrations.engine.records import ExactVectors, exact_matrix, exact_vector_blobs
from evermem_integrations.engine.vectors import MatrixCache, TieredVectorIndex, top_rows
from evermem_integrations.errors import ConfigurationError
from evermem_integrations.memory import SQLITE_FILE
from tests.engine.layouts import as_layout_12
from tests.engine.write_path_support import upsert_units, whole_unit_records

START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
LINES = [
    "I adopted a grey cat called Miso last spring.",
    "My sister Lena lives in Porto and teaches chemistry.",
    "I am training for the Lisbon half marathon in October.",
    "We painted the kitchen a pale green colour on Sunday.",
    "My favourite dessert is a lemon tart with meringue.",
    "I started learning the cello with a teacher downtown.",
]


def _chat(n: int, user: str = "Ana") -> list[dict[str, object]]:
    return [
        {
            "id": f"{user}-{k}",
            "sender": user,
            "content": LINES[k % len(LINES)] + ("" if k < len(LINES) else f" (note {k})"),
            "timestamp": START + timedelta(minutes=k),
            "metadata": {"topic": "pets" if "cat" in LINES[k % len(LINES)] else "life"},
        }
        for k in range(n)
    ]


def _chroma_ids(mem: EverMem, scope: str) -> list[str]:
    index = mem.vectors.index  # type: ignore[attr-defined]
    found: list[str] = []
    for group in ("episodes", "items"):
        found += index._collection(scope, group).get(where={"scope": scope}, include=[])["ids"]
    return [i.removeprefix(index._tag(scope)) for i in found]


def _exact_ids(mem: EverMem, scope: str) -> list[str]:
    return mem.records.exact_vectors(scope)[0]


def test_a_small_scope_is_searched_exactly_without_chroma() -> None:
    with EverMem(path=None) as mem:
        mem.add(_chat(6), user_id="ana")
        mem.flush(user_id="ana")
        assert _exact_ids(mem, "user=ana")
        assert _chroma_ids(mem, "user=ana") == []
        assert not mem.records.indexed_scope("user=ana")
        found = mem.search("What is the name of Ana's cat?", user_id="ana", method="vector")
        assert "Miso" in found.context


def test_exact_search_ranks_every_vector_by_cosine() -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((50, 16)).astype(np.float32)
    with EverMem(path=None) as mem:
        ids = [f"u{n:02d}" for n in range(50)]
        upsert_units(mem, ids, vectors, "user=x", ["fact"] * 50)
        query = vectors[7] + 0.1 * rng.standard_normal(16).astype(np.float32)
        found = mem.vectors.query(query, "user=x", ["fact"], 5)
    cosines = vectors @ query / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    expected = [ids[n] for n in np.argsort(-cosines)[:5]]
    assert [i for i, _ in found] == expected
    assert found[0][1] == pytest.approx(float(cosines.max()), abs=1e-3)  # stored in a byte per dimension


def test_a_zero_query_and_kinds_narrow_the_exact_ranking() -> None:
    with EverMem(path=None) as mem:
        vectors = np.eye(3, dtype=np.float32)
        upsert_units(mem, ["a", "b", "c"], vectors, "user=x", ["fact", "message", "fact"])
        assert [i for i, _ in mem.vectors.query(vectors[1], "user=x", ["fact"], 5)] == ["a", "c"]
        assert [i for i, _ in mem.vectors.query(vectors[1], "user=x", [], 1)] == ["b"]
        assert mem.vectors.query(np.zeros(3, dtype=np.float32), "user=x", ["fact"], 5) == []


def test_tenants_never_see_each_others_exact_vectors() -> None:
    with EverMem(path=None) as mem:
        mem.add(_chat(6, "Ana"), user_id="ana")
        mem.add(_chat(6, "Bo"), user_id="bo")
        mem.flush(user_id="ana")
        mem.flush(user_id="bo")
        vector = mem.embedder.embed(["cat called Miso"])[0]
        ana = {i for i, _ in mem.vectors.query(vector, "user=ana", [], 1_000)}
        bo = {i for i, _ in mem.vectors.query(vector, "user=bo", [], 1_000)}
        assert ana and bo and not ana & bo
        assert ana == set(_exact_ids(mem, "user=ana"))


def _passing_exactly(mem: EverMem, vector: np.ndarray) -> list[str]:
    """The filtered ranking is the whole ranking's units that pass, in order; returns them."""
    pets = parse({"topic": "pets"})
    kinds = ["fact", "message"]
    hits = [i for i, _ in mem.vectors.query(vector, "user=ana", kinds, 100, pets)]
    every = [i for i, _ in mem.vectors.query(vector, "user=ana", kinds, 100)]
    units = mem.records.units("user=ana", every)
    assert hits == [i for i in every if matches(pets, units[i].filter_target)]
    assert len(hits) < len(every)
    return hits


def test_filters_are_judged_exactly_in_the_record_store() -> None:
    with EverMem(path=None) as mem:
        mem.add(_chat(12), user_id="ana")
        mem.flush(user_id="ana")
        vector = mem.embedder.embed(["chemistry teacher in Porto"])[0]
        assert _passing_exactly(mem, vector)
        result = mem.search("Where does Lena live?", user_id="ana", filters={"topic": "pets"})
        assert "Porto" not in result.context


def test_a_scope_past_the_limit_moves_to_chroma_once_with_the_same_ranking() -> None:
    with EverMem(path=None, exact_search_vectors=40) as mem:
        mem.add(_chat(8), user_id="ana")
        mem.flush(user_id="ana")
        assert not mem.records.indexed_scope("user=ana")
        vector = mem.embedder.embed(["half marathon training"])[0]
        before = [i for i, _ in mem.vectors.query(vector, "user=ana", [], 5)]

        mem.add(_chat(40)[8:], user_id="ana")
        mem.flush(user_id="ana")

        assert mem.records.indexed_scope("user=ana")
        assert _exact_ids(mem, "user=ana") == []
        held = set(_chroma_ids(mem, "user=ana"))
        assert len(held) > 40
        after = [i for i, _ in mem.vectors.query(vector, "user=ana", [], 50)]
        assert set(before) <= set(after)  # what was there is still found, now by Chroma
        assert "Lisbon" in mem.search("Which race is Ana training for?", user_id="ana").context
        mem.add(_chat(6, "Bo"), user_id="bo")  # another tenant stays small, searched exactly
        mem.flush(user_id="bo")
        assert not mem.records.indexed_scope("user=bo") and _exact_ids(mem, "user=bo")


def test_zero_keeps_every_scope_in_chroma_and_a_negative_limit_is_refused() -> None:
    with EverMem(path=None, exact_search_vectors=0) as mem:
        mem.add(_chat(6), user_id="ana")
        mem.flush(user_id="ana")
        assert _exact_ids(mem, "user=ana") == [] and _chroma_ids(mem, "user=ana")
        assert "Miso" in mem.search("What is the name of Ana's cat?", user_id="ana", method="vector").context
    for wrong in (-1, "2000", 2.5, True):
        with pytest.raises(ConfigurationError, match="exact_search_vectors must be a whole number"):
            EverMem(path=None, exact_search_vectors=wrong)  # type: ignore[arg-type]


def test_a_failed_move_to_chroma_keeps_the_queue_and_loses_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    with EverMem(path=None, exact_search_vectors=20) as mem:
        mem.add(_chat(6), user_id="ana")
        mem.flush(user_id="ana")
        held = set(_exact_ids(mem, "user=ana"))
        index = mem.vectors.index  # type: ignore[attr-defined]
        real = index.upsert

        def down(*args: object, **kwargs: object) -> None:
            raise RuntimeError("vector server down")

        monkeypatch.setattr(index, "upsert", down)
        mem.add(_chat(30)[6:], user_id="ana")  # crosses the limit: the move fails, the call's records stay
        assert mem.stats(user_id="ana").messages == 30
        assert not mem.records.indexed_scope("user=ana")
        assert mem.records.has_pending_vectors()
        assert held <= set(_exact_ids(mem, "user=ana"))  # the move rolled back: the old vectors are where they were
        monkeypatch.setattr(index, "upsert", real)
        mem.ingest.apply_outbox()
        assert mem.records.indexed_scope("user=ana") and not mem.records.has_pending_vectors()
        assert held - {i for i in held if i.startswith("raw_")} <= set(_chroma_ids(mem, "user=ana"))


def test_a_store_written_before_the_tiers_keeps_its_vectors_in_chroma(tmp_path: Path) -> None:
    with EverMem(path=tmp_path, exact_search_vectors=0) as mem:
        mem.add(_chat(6), user_id="ana")
        mem.flush(user_id="ana")
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:  # the layout of version 4
        as_layout_12(conn)
        whole_unit_records(conn)
        conn.execute("ALTER TABLE units DROP COLUMN subject")
        conn.execute("ALTER TABLE units DROP COLUMN role")
        conn.execute("DROP TABLE exact_vectors")
        conn.execute("DROP TABLE exact_versions")
        conn.execute("DROP TABLE indexed_scopes")
        conn.execute("PRAGMA user_version = 4")
    with EverMem(path=tmp_path) as mem:
        assert mem.records.indexed_scope("user=ana")
        assert "Miso" in mem.search("What is the name of Ana's cat?", user_id="ana", method="vector").context
        mem.add(_chat(6, "Bo"), user_id="bo")
        mem.flush(user_id="bo")
        assert not mem.records.indexed_scope("user=bo")


def test_deleting_a_scope_removes_its_exact_vectors(tmp_path: Path) -> None:
    with EverMem(path=tmp_path) as mem:
        mem.add(_chat(6), user_id="ana")
        mem.add(_chat(6, "Bo"), user_id="bo")
        mem.flush(user_id="ana")
        mem.flush(user_id="bo")
        episode = mem.get(user_id="ana", kind="episode")[0]
        mem.delete(episode.id)
        assert not {f.id for f in episode.facts} & set(_exact_ids(mem, "user=ana"))
        mem.delete(user_id="ana")
        assert _exact_ids(mem, "user=ana") == [] and _exact_ids(mem, "user=bo")
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute(
            "SELECT count(*) FROM exact_vectors WHERE scope = (SELECT id FROM scopes WHERE key = 'user=ana')"
        ).fetchone() == (0,)


def test_the_servers_search_small_scopes_exactly_too(database_url: str, chroma_url: str) -> None:
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="tiers") as mem:
        mem.add(_chat(12), user_id="ana")
        mem.flush(user_id="ana")
        assert mem.records.exact_vectors("user=ana")[0] and not mem.records.indexed_scope("user=ana")
        vector = mem.embedder.embed(["chemistry teacher in Porto"])[0]
        assert _passing_exactly(mem, vector)
        assert "Lena" in mem.search("Where does Ana's sister live?", user_id="ana").context
    with EverMem(
        path=None, database_url=database_url, chroma_url=chroma_url, collection_name="tiers", exact_search_vectors=30
    ) as mem:
        mem.add(_chat(40)[12:], user_id="ana")
        mem.flush(user_id="ana")
        assert mem.records.indexed_scope("user=ana") and mem.records.exact_vectors("user=ana")[0] == []
        assert "Lisbon" in mem.search("Which race is Ana training for?", user_id="ana").context
        assert isinstance(mem.vectors, TieredVectorIndex)


def test_a_scope_written_by_another_engine_is_read_again(tmp_path: Path) -> None:
    """Each engine keeps the matrices it searched; the record store's version tells when they changed."""
    with EverMem(path=tmp_path) as reader, EverMem(path=tmp_path) as writer:
        writer.add(_chat(6), user_id="ana")
        writer.flush(user_id="ana")
        vector = reader.embedder.embed(["a pottery class on Thursdays"])[0]
        before = {i for i, _ in reader.vectors.query(vector, "user=ana", [], 1_000)}
        assert reader.vectors._matrices  # type: ignore[attr-defined]
        writer.add(
            [{"id": "p1", "sender": "Ana", "content": "I signed up for a pottery class on Thursdays."}], user_id="ana"
        )
        after = {i for i, _ in reader.vectors.query(vector, "user=ana", [], 1_000)}
        assert after - before  # the buffered message's vector, written by the other engine
        writer.delete(user_id="ana")
        assert reader.vectors.query(vector, "user=ana", [], 1_000) == []
        writer.add([{"id": "n1", "sender": "Ana", "content": "New start."}], user_id="ana")
        again = {i for i, _ in reader.vectors.query(vector, "user=ana", [], 1_000)}
        assert again and not again & after  # the scope written again is not the one held in memory


def test_the_matrices_held_in_memory_stay_under_their_budget() -> None:
    with EverMem(path=None) as mem:
        tiers = mem.vectors
        assert isinstance(tiers, TieredVectorIndex)
        vectors = np.random.default_rng(1).standard_normal((100, 16)).astype(np.float32)
        tiers._matrices.budget = 2 * vectors.nbytes
        for user in ("a", "b", "c"):
            upsert_units(mem, [f"u{n}" for n in range(100)], vectors, f"user={user}", ["fact"] * 100)
            assert tiers.query(vectors[0], f"user={user}", ["fact"], 1)[0][0] == "u0"
        assert list(tiers._matrices) == ["user=b", "user=c"]  # the least recently searched went first


def _counting_reads(
    monkeypatch: pytest.MonkeyPatch, tiers: TieredVectorIndex
) -> tuple[list[str], Callable[[str], ExactVectors]]:
    """The scopes whose exact vectors are read from the store from now on, and the reader itself."""
    reads: list[str] = []
    read = tiers.records.exact_vectors

    def counted(scope: str) -> ExactVectors:
        reads.append(scope)
        return read(scope)

    monkeypatch.setattr(tiers.records, "exact_vectors", counted)
    return reads, read


def _with_a_bot(chat: list[dict[str, object]]) -> list[dict[str, object]]:
    """Every other message said by an assistant."""
    return [{**m, "sender": "Bot", "role": "assistant"} if n % 2 else m for n, m in enumerate(chat)]


def test_this_engines_writes_change_its_matrix_in_memory_as_reading_it_again_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A chat adds and searches by turns: a search after this engine's own write reads nothing again."""
    with EverMem(path=None) as mem:
        tiers = mem.vectors
        assert isinstance(tiers, TieredVectorIndex)
        mem.add(_chat(8), user_id="ana")
        mem.flush(user_id="ana")
        vector = mem.embedder.embed(["a cello teacher downtown"])[0]
        tiers.query(vector, "user=ana", [], 5)
        reads, read = _counting_reads(monkeypatch, tiers)
        mem.add(_chat(14)[8:], user_id="ana")  # new vectors, and MemCells replacing buffered ones
        mem.flush(user_id="ana")
        found = tiers.query(vector, "user=ana", [], 1_000)
        assert reads == []
        held = tiers._matrices["user=ana"]
        stored = read("user=ana")
        assert (held.ids, held.kinds, held.keys) == (stored.ids, stored.kinds, stored.keys)
        subjects = {keys.subject for keys in held.keys}
        assert subjects <= {"Ana", None} and "Ana" in subjects  # episodes are about no one
        assert held.keys_by_id == tiers.records.unit_keys("user=ana", held.ids)  # cells and roles too
        np.testing.assert_array_equal(held.matrix, stored.matrix)
        fresh = TieredVectorIndex(tiers.records, tiers.index)  # reads the store
        assert found == fresh.query(vector, "user=ana", [], 1_000)
        reads.clear()
        gone = mem.get(user_id="ana", kind="fact")[0].id
        mem.delete(gone, user_id="ana")
        assert gone not in {i for i, _ in tiers.query(vector, "user=ana", [], 1_000)}
        assert reads == [] and tiers._matrices["user=ana"].ids == read("user=ana")[0]


def test_a_write_rolled_back_is_not_served_from_memory() -> None:
    with EverMem(path=None) as mem:
        tiers = mem.vectors
        assert isinstance(tiers, TieredVectorIndex)
        vectors = np.eye(4, dtype=np.float32)
        upsert_units(mem, ["a", "b"], vectors[:2], "user=x", ["fact", "fact"])
        assert [i for i, _ in tiers.query(vectors[2], "user=x", [], 5)] == ["a", "b"]
        with pytest.raises(RuntimeError), mem.records.transaction():
            upsert_units(mem, ["c"], vectors[2:3], "user=x", ["fact"])
            assert tiers.query(vectors[2], "user=x", [], 1)[0][0] == "c"  # seen inside the transaction
            raise RuntimeError("rolled back")
        assert [i for i, _ in tiers.query(vectors[2], "user=x", [], 5)] == ["a", "b"]
        tiers.delete("user=x", ["a", "b"])
        assert tiers.query(vectors[0], "user=x", [], 5) == []
        assert TieredVectorIndex(tiers.records, tiers.index).query(vectors[0], "user=x", [], 5) == []


SUBJECT_FILTERS = [
    {"subject": "Ana"},
    {"sender": {"$in": ["Ana", "Bot"]}},
    {"$and": [{"subject": "Bot"}, {"topic": "pets"}]},
    {"$and": [{"subject": {"$in": ["Ana", "Bot"]}}, {"subject": "Ana"}, {"kind": "message"}]},
    {"$or": [{"subject": "Bot"}, {"topic": "pets"}]},
    {"subject": {"$ne": "Ana"}},
    {"subject": "Nobody"},
]


@pytest.mark.parametrize("where", SUBJECT_FILTERS, ids=[str(f) for f in SUBJECT_FILTERS])
def test_a_filter_on_who_a_memory_is_about_is_judged_exactly_from_memory(where: dict[str, object]) -> None:
    chat = _with_a_bot(_chat(12))
    with EverMem(path=None) as mem:
        mem.add(chat, user_id="ana")
        mem.flush(user_id="ana")
        vector = mem.embedder.embed(["a cat, a sister, a race"])[0]
        parsed = parse(where)
        hits = [i for i, _ in mem.vectors.query(vector, "user=ana", [], 1_000, parsed)]
        every = [i for i, _ in mem.vectors.query(vector, "user=ana", [], 1_000)]
        units = mem.records.units("user=ana", every)
        assert hits == [i for i in every if matches(parsed, units[i].filter_target)]
        assert len(hits) < len(every)


def _as_layout_9(conn: sqlite3.Connection) -> None:
    """Exact vectors as layouts 5 to 9 held them: one row per unit, by id."""
    as_layout_12(conn)
    conn.execute("ALTER TABLE exact_vectors RENAME TO shared")
    conn.execute(
        "CREATE TABLE exact_vectors (scope TEXT NOT NULL, id TEXT NOT NULL, kind TEXT NOT NULL, "
        "vector BLOB NOT NULL, UNIQUE (scope, id))"
    )
    conn.execute(
        "INSERT INTO exact_vectors SELECT u.scope, u.id, u.kind, s.vector FROM units u "
        "JOIN shared s ON s.scope = u.scope AND s.vector_key = u.vector_key"
    )
    conn.execute("DROP TABLE shared")
    conn.execute("DROP INDEX units_scope")
    conn.execute("CREATE INDEX units_scope ON units (scope, kind)")
    conn.execute("ALTER TABLE units DROP COLUMN vector_key")
    conn.execute("PRAGMA user_version = 9")


def test_units_of_one_text_share_one_stored_vector(tmp_path: Path) -> None:
    with EverMem(path=tmp_path) as mem:
        mem.add(_chat(8), user_id="ana")
        mem.flush(user_id="ana")
        held = mem.records.exact_vectors("user=ana")
        texts = {u.indexed_text for u in mem.records.units("user=ana", held.ids).values()}
        assert len(texts) < len(held.ids)  # a one-sentence message is also its fact
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT count(*) FROM exact_vectors").fetchone() == (len(texts),)


def _written_with_a_search(path: Path) -> tuple[ExactVectors, SearchResult]:
    """A store of Ana's chat: its exact vectors, and what a vector search for her cat found."""
    with EverMem(path=path) as mem:
        mem.add(_chat(8), user_id="ana")
        mem.flush(user_id="ana")
        return mem.records.exact_vectors("user=ana"), mem.search(
            "What is the name of Ana's cat?", user_id="ana", method="vector"
        )


def test_a_store_of_layout_9_holds_each_vector_once_and_ranks_as_before(tmp_path: Path) -> None:
    held, expected = _written_with_a_search(tmp_path)
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        _as_layout_9(conn)
        by_unit = conn.execute("SELECT count(*) FROM exact_vectors").fetchone()[0]
    with EverMem(path=tmp_path) as mem:
        migrated = mem.records.exact_vectors("user=ana")
        assert (migrated.ids, migrated.kinds, migrated.keys) == (held.ids, held.kinds, held.keys)
        np.testing.assert_array_equal(migrated.matrix, held.matrix)
        found = mem.search("What is the name of Ana's cat?", user_id="ana", method="vector")
        assert [i.id for i in found.items] == [i.id for i in expected.items]
        gone = mem.get(user_id="ana", kind="fact")[0].id
        mem.delete(gone, user_id="ana")
        assert gone not in mem.records.exact_vectors("user=ana").ids
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT count(*) FROM exact_vectors").fetchone()[0] < by_unit
        assert not conn.execute(  # no vector outlives every unit of its text
            "SELECT 1 FROM exact_vectors e WHERE NOT EXISTS "
            "(SELECT 1 FROM units u WHERE u.scope = e.scope AND u.vector_key = e.vector_key)"
        ).fetchall()


def _store_float32_vectors(conn: sqlite3.Connection) -> None:
    """The exact vectors as layouts 5 and 6 stored them: float32, four bytes per dimension."""
    _as_layout_9(conn)
    rows = conn.execute("SELECT rowid, vector FROM exact_vectors").fetchall()
    conn.executemany(
        "UPDATE exact_vectors SET vector = ? WHERE rowid = ?",
        [(exact_matrix([blob])[0].astype(np.float32).tobytes(), rowid) for rowid, blob in rows],
    )


def test_a_store_of_layout_5_gets_who_each_unit_is_about_as_a_column(tmp_path: Path) -> None:
    with EverMem(path=tmp_path) as mem:
        mem.add(_with_a_bot(_chat(8)), user_id="ana")
        mem.flush(user_id="ana")
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:  # the layout of version 5
        _store_float32_vectors(conn)
        expected = conn.execute("SELECT id, subject, role FROM units ORDER BY id").fetchall()
        whole_unit_records(conn)
        conn.execute("ALTER TABLE units DROP COLUMN subject")
        conn.execute("ALTER TABLE units DROP COLUMN role")
        conn.execute("PRAGMA user_version = 5")
    with EverMem(path=tmp_path) as mem:
        assert "Miso" in mem.search("my cat", user_id="ana", filters={"subject": "Ana"}).context
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT id, subject, role FROM units ORDER BY id").fetchall() == expected
        assert {s for _, s, _ in expected} >= {"Ana", "Bot"} and {r for _, _, r in expected} >= {"assistant"}


def test_exact_vectors_take_a_byte_per_dimension_and_keep_their_cosines() -> None:
    vectors = np.random.default_rng(5).standard_normal((200, 288)).astype(np.float32)
    blobs = exact_vector_blobs(vectors)
    assert {len(b) for b in blobs} == {4 + 288}  # a float32 scale, then the codes
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    stored = exact_matrix(blobs)
    assert np.allclose(np.linalg.norm(stored, axis=1), 1.0, atol=1e-5)
    assert np.abs(stored @ unit.T - unit @ unit.T).max() < 2e-3
    assert exact_matrix(exact_vector_blobs(np.zeros((1, 8), dtype=np.float32))).tolist() == [[0.0] * 8]


def test_a_store_of_layout_6_gets_its_float32_vectors_in_a_byte_per_dimension(tmp_path: Path) -> None:
    held, expected = _written_with_a_search(tmp_path)
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:  # the layout of version 6
        _store_float32_vectors(conn)
        conn.execute("PRAGMA user_version = 6")
    with EverMem(path=tmp_path) as mem:
        migrated = mem.records.exact_vectors("user=ana")
        assert migrated.ids == held.ids
        assert np.abs(migrated.matrix - held.matrix).max() < 2e-2
        found = mem.search("What is the name of Ana's cat?", user_id="ana", method="vector")
        assert [i.id for i in found.items] == [i.id for i in expected.items]
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT DISTINCT length(vector) FROM exact_vectors").fetchall() == [
            (4 + held.matrix.shape[1],)
        ]


def test_a_scope_this_engine_wrote_from_nothing_is_searched_without_reading_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Ingest then ask: the first search of a scope finds its matrix already built by the writes."""
    with EverMem(path=None) as mem:
        tiers = mem.vectors
        assert isinstance(tiers, TieredVectorIndex)
        mem.add(_chat(10), user_id="ana")
        mem.flush(user_id="ana")
        reads, _ = _counting_reads(monkeypatch, tiers)
        vector = mem.embedder.embed(["the Lisbon half marathon"])[0]
        found = tiers.query(vector, "user=ana", ["fact", "message"], 1_000)
        assert reads == [] and found
        assert found == TieredVectorIndex(tiers.records, tiers.index).query(
            vector, "user=ana", ["fact", "message"], 1_000
        )


QUESTIONS = ["what did I say about my cat?", "where does Lena live?", "what dessert do I like?"]


@pytest.fixture
def bot_chat() -> Iterator[EverMem]:
    """A chat with an assistant, stored: its questions about the user rank with every prior."""
    with EverMem(path=None) as mem:
        assert isinstance(mem.vectors, TieredVectorIndex)
        mem.add(_with_a_bot(_chat(24)), user_id="ana")
        mem.flush(user_id="ana")
        yield mem


def _answers(mem: EverMem) -> list[SearchResult]:
    return [mem.search(q, user_id="ana", token_budget=300) for q in QUESTIONS]


def test_ranking_reads_the_keys_of_a_scope_searched_exactly_from_its_matrix(
    bot_chat: EverMem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The priors (episode, subject, asker) need every candidate's cell, subject and role: held, not read."""
    tiers = bot_chat.vectors
    assert isinstance(tiers, TieredVectorIndex)
    held = _answers(bot_chat)
    asked: list[list[str]] = []
    read_keys = tiers.records.unit_keys

    def counted(scope: str, ids: list[str]) -> object:
        asked.append(list(ids))
        return read_keys(scope, ids)

    monkeypatch.setattr(tiers.records, "unit_keys", counted)
    assert _answers(bot_chat) == held and asked == []
    monkeypatch.setattr(tiers, "held_keys", lambda scope: None)  # every key read from the store
    assert _answers(bot_chat) == held and asked


def test_ranking_loads_no_matrix_for_the_keys_of_a_scope_memory_no_longer_holds(
    bot_chat: EverMem, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys come from a matrix already held; when it was dropped meanwhile, the candidates' keys are read instead."""
    tiers = bot_chat.vectors
    assert isinstance(tiers, TieredVectorIndex)
    expected = _answers(bot_chat)
    query, held_keys = tiers.query, tiers.held_keys
    reads, _ = _counting_reads(monkeypatch, tiers)
    read_for_keys: list[int] = []

    def query_then_dropped(*args: object, **kwargs: object) -> list[tuple[str, float]]:
        found = query(*args, **kwargs)
        tiers._matrices = MatrixCache(tiers._matrices.budget)  # as searches of other scopes evict it
        return found

    def counted_keys(scope: str) -> object:
        before = len(reads)
        found = held_keys(scope)
        read_for_keys.append(len(reads) - before)
        return found

    monkeypatch.setattr(tiers, "query", query_then_dropped)
    monkeypatch.setattr(tiers, "held_keys", counted_keys)
    assert _answers(bot_chat) == expected
    assert read_for_keys and sum(read_for_keys) == 0


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=-5, max_value=5), min_size=1, max_size=400),  # small range: many ties
    st.integers(min_value=1, max_value=500),
)
def test_the_best_rows_are_the_head_of_a_stable_sort(values: list[int], limit: int) -> None:
    scores = np.asarray(values, dtype=np.float32) / 5
    assert top_rows(scores, limit).tolist() == np.argsort(-scores, kind="stable")[:limit].tolist()
