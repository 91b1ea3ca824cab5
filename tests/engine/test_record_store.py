"""The record store's lexical index: partitions, and what PostgreSQL's BM25 leaves out of large scopes."""

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine import records
from evermem_integrations.engine.records import RecordStore, SQLiteRecordStore, Unit, partition_token
from evermem_integrations.memory import SQLITE_FILE
from tests.engine.layouts import as_layout_12
from tests.engine.test_lifecycle import BOSTON
from tests.engine.write_path_support import lexical_index

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)


def fact(scope: str, n: int, text: str) -> Unit:
    return Unit(id=f"{scope}-{n}", scope=scope, kind="fact", text=text, cell_id="c", timestamp=T0, data={})


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
def store(request: pytest.FixtureRequest) -> Iterator[RecordStore]:
    store: RecordStore
    if request.param == "sqlite":
        store = SQLiteRecordStore(None)
    else:
        from evermem_integrations.engine.postgres import PostgresRecordStore

        store = PostgresRecordStore(request.getfixturevalue("database_url"))
    # "family" is in every unit, "kayak" in one: a common and a rare term.
    store.put_units([fact("a", n, f"Ana talked about family plans number {n}") for n in range(40)])
    store.put_units([fact("a", 40, "Ana bought a kayak for the family")])
    store.put_units([fact("b", 0, "Bo has a kayak and a family")])
    yield store
    store.close()


def test_bm25_stays_inside_its_scope(store: RecordStore) -> None:
    assert {unit_id for unit_id, _ in store.bm25("a", store.lexical_terms("kayak", "a"), ["fact"], 10)} == {"a-40"}
    assert {unit_id for unit_id, _ in store.bm25("b", store.lexical_terms("kayak family", "b"), ["fact"], 10)} == {
        "b-0"
    }
    assert store.bm25("a", store.lexical_terms("kayak", "a"), ["episode"], 10) == []


@pytest.mark.integration
def test_a_large_postgres_index_scores_only_the_selective_terms(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evermem_integrations.engine import postgres
    from evermem_integrations.engine.postgres import PostgresRecordStore

    store = PostgresRecordStore(database_url)
    try:
        store.put_units([fact("a", n, f"Ana talked about family plans number {n}") for n in range(40)])
        store.put_units([fact("a", 40, "Ana bought a kayak for the family")])
        everything = store.bm25("a", store.lexical_terms("family kayak", "a"), ["fact"], 100)
        assert len(everything) == 41  # a small index scores every term
        monkeypatch.setattr(postgres, "LARGE_INDEX", 10)
        assert [i for i, _ in store.bm25("a", store.lexical_terms("family kayak", "a"), ["fact"], 100)] == ["a-40"]
        # a query of common terms only keeps the rarest of them, so it still finds something
        assert len(store.bm25("a", store.lexical_terms("family plans", "a"), ["fact"], 100)) == 40
        assert store.bm25("a", store.lexical_terms("zebra", "a"), ["fact"], 100) == []
    finally:
        store.close()


def test_sqlite_scores_every_term_however_large_the_store() -> None:
    """A small scope is ranked in memory and a large one by tantivy: a common term costs neither much."""
    store = SQLiteRecordStore(None)
    store.put_units([fact("a", n, f"Ana talked about family plans number {n}") for n in range(40)])
    store.put_units([fact("a", 40, "Ana bought a kayak for the family")])
    assert store.lexical_terms("family kayak", "a") == ["family", "kayak"]
    ranked = store.bm25("a", store.lexical_terms("family kayak", "a"), ["fact"], 100)
    assert len(ranked) == 41
    assert ranked[0][0] == "a-40"
    store.close()


def _unit(scope: str, n: int, text: str, context: str = "", kind: str = "fact") -> Unit:
    return Unit(
        id=f"{scope}-{n}", scope=scope, kind=kind, text=text, cell_id="c", timestamp=T0, data={}, context=context
    )


def test_the_lexical_index_holds_what_its_units_say_after_replaces_and_deletes(tmp_path: Path) -> None:
    """The index keeps no copy of the texts: a delete that named other terms than were indexed would leave them."""
    final = [
        _unit("a", 0, "Ana keeps bees", context="What does Ana do on weekends?"),
        _unit("a", 1, "安娜在奥斯陆养蜜蜂", context="她的爱好是什么?"),  # segmented before indexing
        _unit("a", 2, "Ana moved to Oslo", kind="episode", context="Ana: I moved to Oslo."),
    ]
    store = SQLiteRecordStore(tmp_path / "changed.sqlite3")
    store.put_units(
        [
            _unit("a", 0, "Ana keeps goats", context="Why goats?"),
            _unit("a", 1, "安娜养山羊"),
            _unit("a", 3, "Ana sold her kayak"),
            _unit("b", 0, "Bo keeps bees in Bergen", context="Where are the hives?"),
        ]
    )
    store.put_units(final[:2])  # replaced: text, context and segmentation all change
    store.put_units(final[2:])
    store.remove_units("a", ["a-3"])
    store.delete_scope("b")
    assert store.bm25("a", store.lexical_terms("goats kayak hives", "a"), ["fact", "episode"], 10) == []
    fresh = SQLiteRecordStore(tmp_path / "fresh.sqlite3")
    fresh.put_units(final)
    with sqlite3.connect(tmp_path / "changed.sqlite3") as changed, sqlite3.connect(tmp_path / "fresh.sqlite3") as new:
        assert lexical_index(changed) == lexical_index(new)
        changed.execute("INSERT INTO units_fts (units_fts) VALUES ('integrity-check')")
    store.close()
    fresh.close()


def _as_layout_7(conn: sqlite3.Connection) -> None:
    """The lexical index as layouts up to 7 kept it: FTS5 with its own copy of each body, and the unit's id."""
    as_layout_12(conn)
    rows = conn.execute("SELECT rowid, id, scope, kind, text, context, lexical FROM units").fetchall()
    conn.execute("DROP TABLE units_fts")
    conn.execute(
        "CREATE VIRTUAL TABLE units_fts USING fts5 (body, part_tok, kind_tok, unit_id UNINDEXED, "
        "tokenize = 'porter unicode61 remove_diacritics 2')"
    )
    conn.executemany(
        "INSERT INTO units_fts (rowid, body, part_tok, kind_tok, unit_id) VALUES (?, ?, ?, ?, ?)",
        [
            (rowid, lexical or (f"{text} {context}" if context else text), partition_token(scope, kind), f"k{kind}", i)
            for rowid, i, scope, kind, text, context, lexical in rows
        ],
    )
    conn.execute("ALTER TABLE units DROP COLUMN context")
    conn.execute("ALTER TABLE units DROP COLUMN lexical")
    conn.execute("PRAGMA user_version = 7")


def test_a_store_of_layout_7_keeps_its_lexical_index_without_its_copy_of_the_texts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(records, "MIGRATION_CHUNK", 4)  # the migration goes through the index in several reads
    later = T0 + timedelta(days=1)
    with EverMem(path=tmp_path) as mem:
        mem.add(BOSTON, user_id="ana")
        mem.flush(user_id="ana")
        mem.add([{"sender": "Ana", "content": "我在奥斯陆养蜜蜂。", "timestamp": later}], user_id="ana")
        expected = mem.search("Where does Ana live and work? 蜜蜂", user_id="ana", method="keyword")
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        index = lexical_index(conn)
        columns = conn.execute("SELECT id, context, lexical FROM units ORDER BY id").fetchall()
        _as_layout_7(conn)
    assert any(context for _, context, _ in columns) and any(lexical for _, _, lexical in columns)
    with EverMem(path=tmp_path) as mem:
        found = mem.search("Where does Ana live and work? 蜜蜂", user_id="ana", method="keyword")
        assert [(i.id, i.score) for i in found.items] == [(i.id, i.score) for i in expected.items]
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT id, context, lexical FROM units ORDER BY id").fetchall() == columns
        assert lexical_index(conn) == index
        assert "content = ''" in conn.execute("SELECT sql FROM sqlite_master WHERE name = 'units_fts'").fetchone()[0]
    with EverMem(path=tmp_path) as mem:
        assert mem.delete(user_id="ana") == 1
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert lexical_index(conn) == []


def test_a_units_record_is_stored_without_what_its_columns_hold_and_read_back_whole(store: RecordStore) -> None:
    said = {"subject": "Ana", "role": "user", "source_message_ids": ["m1"], "scene_id": "s1"}
    drawn = {"subject": "Ana", "source_message_ids": ["m1", "m2"], "superseded_by": None}
    store.put_units(
        [
            Unit("u1", "c", "message", "Ana: I kayak.", None, T0, said),
            Unit("u2", "c", "fact", "Ana kayaks.", "c1", T0, drawn),
        ]
    )
    units = store.units("c", ["u1", "u2"])
    assert (units["u1"].data, units["u2"].data) == (said, drawn)
    if isinstance(store, SQLiteRecordStore):
        with store.transaction() as conn:
            rows = dict(
                conn.execute(
                    "SELECT id, data FROM units WHERE scope = (SELECT id FROM scopes WHERE key = 'c')"
                ).fetchall()
            )
        assert rows["u1"] == '{"scene_id": "s1"}'
        assert '"Ana"' not in rows["u2"] and '"m2"' in rows["u2"]


def test_a_units_scene_is_its_memcells(tmp_path: Path) -> None:
    with EverMem(path=tmp_path) as mem:
        mem.add(BOSTON, user_id="ana")
        mem.flush(user_id="ana")
        cells = {c.id: c.scene_id for c in mem.get(user_id="ana", kind="episode")}
        unit_ids = [u for kind in ("message", "fact") for u in mem.records.unit_ids_of_kind("user=ana", kind)]
        units = mem.records.units("user=ana", unit_ids).values()
        assert units and all(u.data["scene_id"] == cells[u.cell_id] is not None for u in units)
        scene = next(iter(cells.values()))
        found = mem.get(user_id="ana", kind="fact", filters={"scene_id": scene}, limit=100)
        assert found and {f.id for f in found} == {
            u.id for u in units if u.kind == "fact" and u.data["scene_id"] == scene
        }
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("SELECT count(*) FROM units WHERE data LIKE '%scene_%'").fetchone() == (0,)


def test_facts_foresight_and_profile_rows_leave_their_columns_out_of_their_records(tmp_path: Path) -> None:
    with EverMem(path=tmp_path) as mem:
        mem.add(BOSTON, user_id="ana")
        mem.flush(user_id="ana")
        cells = mem.get(user_id="ana", kind="episode")
        written = sorted((f for c in cells for f in c.facts), key=lambda f: f.id)
        assert written and mem.records.facts("user=ana") and mem.records.profile_items("user=ana")
        assert sorted(mem.records.facts("user=ana"), key=lambda f: f.id) == written
        assert all(f.subject and f.cell_id for f in written)
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        for table, held in (("facts", '"cell_id"'), ("foresight", '"cell_id"'), ("profile", '"scope"')):
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE data LIKE '%\"id\"%'").fetchone() == (0,)
            assert conn.execute(f"SELECT count(*) FROM {table} WHERE data LIKE ?", [f"%{held}%"]).fetchone() == (0,)
