"""A large scope's BM25 is served by tantivy, kept by the record store's log; FTS5 ranks it when tantivy cannot."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine import records as records_module
from evermem_integrations.engine.filters import parse
from evermem_integrations.engine.lexical import ScopeLexicon
from evermem_integrations.engine.models import ITEM_KINDS
from evermem_integrations.engine.records import SQLiteRecordStore, Unit
from evermem_integrations.memory import SQLITE_FILE
from tests.engine.layouts import as_layout_12

TIER = 30
"""The tier's size in these tests (units; the default is 10,000)."""
START = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)
TOPICS = ["cello", "marathon", "kitchen", "lemon", "porto", "miso", "glacier", "violin", "harbour", "saffron"]


@pytest.fixture(autouse=True)
def small_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(records_module, "LEXICAL_TIER_UNITS", TIER)


@pytest.fixture
def served() -> Iterator[list[str]]:
    """The scopes whose BM25 tantivy answered during the test (a spy on :meth:`ScopeLexicon.search`)."""
    calls: list[str] = []
    original = ScopeLexicon.search

    def spy(self: ScopeLexicon, group: str, terms: object, limit: int) -> list[tuple[int, float]]:
        calls.append(self.name)
        return original(self, group, terms, limit)  # type: ignore[arg-type]

    ScopeLexicon.search = spy  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        ScopeLexicon.search = original  # type: ignore[method-assign]


def _chat(user: str, n: int, first: int = 0) -> list[dict[str, object]]:
    return [
        {
            "id": f"{user}-{k}",
            "sender": user,
            "content": f"Day {k}: {user} talked about the {TOPICS[k % len(TOPICS)]} with friend number {k}.",
            "timestamp": START + timedelta(hours=k),
            "metadata": {"day": k % 3},
        }
        for k in range(first, first + n)
    ]


def _fill(mem: EverMem, user: str, n: int = 40) -> None:
    mem.add(_chat(user, n), user_id=user)
    mem.flush(user_id=user)


def _say(mem: EverMem, content: str, user: str = "ana") -> None:
    mem.add([{"sender": user, "content": content, "timestamp": START}], user_id=user)
    mem.flush(user_id=user)


def _found(mem: EverMem, word: str, user: str = "ana") -> bool:
    return any(word in item.text for item in mem.search(word, user_id=user, method="keyword").items)


def _found_by_tantivy(mem: EverMem, word: str, served: list[str], user: str = "ana") -> bool:
    served.clear()
    return _found(mem, word, user) and bool(served)


def _tier(mem: EverMem) -> list[tuple[str, int]]:
    return [
        (r[0], r[1])
        for r in mem.records._tuples(
            "SELECT s.key, l.applied FROM lexical_scopes AS l JOIN scopes AS s ON s.id = l.scope ORDER BY s.key"
        )
    ]  # type: ignore[attr-defined]


def _fts5(store: SQLiteRecordStore, scope: str, terms: list[str], kinds: frozenset[str], limit: int, **kw: object):  # type: ignore[no-untyped-def]
    """What FTS5 alone ranks for the query (the tier looked past)."""
    current = store._current_lexicon
    store._current_lexicon = lambda _scope, _sid: None  # type: ignore[method-assign]
    try:
        return store.bm25(scope, terms, list(kinds), limit, **kw)  # type: ignore[arg-type]
    finally:
        store._current_lexicon = current  # type: ignore[method-assign]


def test_a_scope_past_the_tiers_size_is_ranked_by_tantivy_as_fts5_ranks_it(tmp_path: Path, served: list[str]) -> None:
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana", 8)
        assert _tier(mem) == []  # small: FTS5 only
        _fill(mem, "ana")
        assert _tier(mem) == [("user=ana", 2)]  # built, then the flush's changes drained
        store = mem.records
        assert isinstance(store, SQLiteRecordStore)
        for query in ["cello friend", "glacier saffron", "number 17", "violin harbour marathon"]:
            terms = store.lexical_terms(query, "user=ana")
            for kinds in (ITEM_KINDS, frozenset({"episode"})):
                served.clear()
                fast = store.bm25("user=ana", terms, list(kinds), 200)
                assert served, "tantivy answered"
                slow = _fts5(store, "user=ana", terms, kinds, 200)
                # Every match fits in the limit: the same units, and the same best one.
                assert {i for i, _ in fast} == {i for i, _ in slow}
                assert fast[0][1] >= fast[-1][1]
        top = store.bm25("user=ana", store.lexical_terms("number 17", "user=ana"), list(ITEM_KINDS), 3)
        assert all("17" in mem.records.units("user=ana", [i])[i].text for i, _ in top[:1])


def test_writes_and_deletes_after_the_move_are_searched_at_once(tmp_path: Path, served: list[str]) -> None:
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana")
        mem.add(
            [{"id": "z", "sender": "ana", "content": "I rode a zeppelin over Lake Constance.", "timestamp": START}],
            user_id="ana",
        )
        mem.flush(user_id="ana")
        served.clear()
        found = mem.search("zeppelin", user_id="ana", method="keyword")
        assert served and any("zeppelin" in item.text for item in found.items)
        mem.delete("z", user_id="ana")  # the message, and what was drawn from it
        served.clear()
        found = mem.search("zeppelin", user_id="ana", method="keyword")
        assert served and not any("zeppelin" in i.text for i in found.items)
        assert mem.records._tuples("SELECT count(*) FROM lexical_log")[0][0] == 0  # type: ignore[attr-defined]


def test_tenants_stay_apart_and_a_deleted_scope_takes_its_indexes(tmp_path: Path, served: list[str]) -> None:
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana")
        _fill(mem, "bo")
        _say(mem, "My password hint is walrus.", "bo")
        assert [scope for scope, _ in _tier(mem)] == ["user=ana", "user=bo"]
        served.clear()
        assert mem.search("walrus", user_id="ana", method="keyword").items == []
        assert served  # ana's own index said so
        assert _found(mem, "walrus", "bo")
        root = tmp_path / f"{SQLITE_FILE}.lexical"
        assert len(list(root.iterdir())) == 2
        mem.delete(user_id="bo")
        assert [scope for scope, _ in _tier(mem)] == ["user=ana"]
        assert len(list(root.iterdir())) == 1
        assert mem.search("walrus", user_id="bo", method="keyword").items == []
        assert mem.search("cello", user_id="ana", method="keyword").items


def test_a_failed_drain_loses_nothing_and_the_next_write_catches_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: list[str]
) -> None:
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana")

        def broken(*_args: object, **_kwargs: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(ScopeLexicon, "write", broken)
        _say(mem, "The quokka smiled at me.")  # committed: the drain's failure is logged, not raised
        served.clear()
        assert _found(mem, "quokka")
        assert not served  # behind: FTS5 answered
        monkeypatch.undo()
        monkeypatch.setattr(records_module, "LEXICAL_TIER_UNITS", TIER)
        _say(mem, "A wombat dug a hole.")
        assert _found_by_tantivy(mem, "quokka", served)


def test_opening_a_store_drains_what_a_crash_left_logged(tmp_path: Path, served: list[str]) -> None:
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana")
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:  # a unit written, its drain never run
        conn.execute(
            "INSERT INTO lexical_log (scope, row) SELECT scope, rowid FROM units "
            "WHERE scope = (SELECT id FROM scopes WHERE key = 'user=ana') LIMIT 5"
        )
    with EverMem(path=tmp_path) as mem:
        assert mem.records._tuples("SELECT count(*) FROM lexical_log")[0][0] == 0  # type: ignore[attr-defined]
        served.clear()
        items = mem.search("cello", user_id="ana", method="keyword").items
        assert served and items


def test_another_engine_sees_the_writes_of_this_one(tmp_path: Path, served: list[str]) -> None:
    with EverMem(path=tmp_path) as writer, EverMem(path=tmp_path) as reader:
        _fill(writer, "ana")
        assert reader.search("cello", user_id="ana", method="keyword").items
        _say(writer, "We saw an axolotl today.")
        assert _found_by_tantivy(reader, "axolotl", served)


def test_a_filter_is_judged_on_tantivys_ranking_as_on_fts5s(tmp_path: Path, served: list[str]) -> None:
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana")
        store = mem.records
        assert isinstance(store, SQLiteRecordStore)
        where = parse({"day": 1})
        terms = store.lexical_terms("friend cello marathon", "user=ana")
        served.clear()
        fast = store.bm25("user=ana", terms, list(ITEM_KINDS), 5, where)
        assert served
        slow = _fts5(store, "user=ana", terms, ITEM_KINDS, 200, where=where)
        assert fast and {i for i, _ in fast} <= {i for i, _ in slow}
        assert len(fast) == min(5, len(slow))


def test_an_in_memory_store_keeps_its_indexes_in_memory(served: list[str]) -> None:
    with EverMem(path=None) as mem:
        _fill(mem, "ana")
        served.clear()
        assert mem.search("saffron", user_id="ana", method="keyword").items
        assert served


def test_a_store_of_layout_8_gets_the_tier_and_its_large_scope_joins_at_the_next_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served: list[str]
) -> None:
    monkeypatch.setattr(records_module, "LEXICAL_TIER_UNITS", 10**9)  # written as layout 8 was: FTS5 only
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana")
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        as_layout_12(conn)
        conn.execute("DROP TABLE lexical_scopes")
        conn.execute("DROP TABLE lexical_log")
        conn.execute("PRAGMA user_version = 8")
    monkeypatch.setattr(records_module, "LEXICAL_TIER_UNITS", TIER)
    with EverMem(path=tmp_path) as mem:
        assert _tier(mem) == []
        served.clear()
        assert mem.search("cello", user_id="ana", method="keyword").items and not served
        _say(mem, "We fed the capybara.")
        assert [scope for scope, _ in _tier(mem)] == ["user=ana"]
        assert mem.search("capybara", user_id="ana", method="keyword").items and served
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == records_module.SCHEMA_VERSION


def test_an_index_folder_removed_by_hand_is_searched_in_fts5_and_rebuilt(tmp_path: Path, served: list[str]) -> None:
    root = tmp_path / f"{SQLITE_FILE}.lexical"
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana")
        _say(mem, "The narwhal surfaced.")
        for folder in root.iterdir():
            shutil.rmtree(folder)
        assert _found(mem, "narwhal") and not served  # FTS5, not an empty index
        _say(mem, "A pangolin rolled up.")  # the drain after this write rebuilds the index
        assert _found_by_tantivy(mem, "narwhal", served) and _found(mem, "pangolin")
        assert len(list(root.iterdir())) == 1


def _fts5_rows(mem: EverMem) -> set[int]:
    return {row for (row,) in mem.records._tuples("SELECT rowid FROM units_fts")}  # type: ignore[attr-defined]


def _unit_rows(mem: EverMem, scope: str) -> set[int]:
    return {
        row
        for (row,) in mem.records._tuples(
            "SELECT rowid FROM units WHERE scope = (SELECT id FROM scopes WHERE key = ?)",
            [scope],
        )
    }  # type: ignore[attr-defined]


def test_only_the_tiers_scopes_have_fts5_entries(tmp_path: Path, served: list[str]) -> None:
    # A small scope is ranked from its units' postings: FTS5 entries of its own would be written and never read.
    with EverMem(path=tmp_path) as mem:
        _say(mem, "The narwhal surfaced.", "bo")
        assert _fts5_rows(mem) == set()
        _fill(mem, "ana")  # joins the tier: every unit of the scope is indexed, those written before included
        _say(mem, "A pangolin rolled up.")
        assert _fts5_rows(mem) == _unit_rows(mem, "user=ana")
        assert _found(mem, "narwhal", "bo") and not _found(mem, "narwhal")
        for folder in (tmp_path / f"{SQLITE_FILE}.lexical").iterdir():
            shutil.rmtree(folder)
        served.clear()
        assert _found(mem, "pangolin") and not served  # FTS5 ranks what tantivy cannot
        mem.delete(user_id="ana")
        assert _fts5_rows(mem) == set()


def test_a_store_of_layout_11_keeps_fts5_entries_for_the_tiers_scopes_only(tmp_path: Path, served: list[str]) -> None:
    with EverMem(path=tmp_path) as mem:
        _fill(mem, "ana")
        _say(mem, "The narwhal surfaced.", "bo")
        with mem.records.transaction() as conn:  # type: ignore[attr-defined]
            bo_number = mem.records._scope_id("user=bo")  # type: ignore[attr-defined]
            mem.records._index_in_fts5(conn, "user=bo", bo_number)  # type: ignore[attr-defined]  # layout 11 indexed every scope
        ana, bo = _unit_rows(mem, "user=ana"), _unit_rows(mem, "user=bo")
        assert _fts5_rows(mem) == ana | bo
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        as_layout_12(conn)
        conn.execute("PRAGMA user_version = 11")
    with EverMem(path=tmp_path) as mem:
        assert _fts5_rows(mem) == ana
        assert _found(mem, "narwhal", "bo")
        for folder in (tmp_path / f"{SQLITE_FILE}.lexical").iterdir():
            shutil.rmtree(folder)
        served.clear()
        assert _found(mem, "cello") and not served
    with sqlite3.connect(tmp_path / SQLITE_FILE) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == records_module.SCHEMA_VERSION


def test_a_new_scope_that_joins_the_tier_in_its_first_write_holds_no_postings(
    tmp_path: Path, served: list[str]
) -> None:
    """Postings start with a scope's first write, unless that write already takes it to tantivy."""
    store = SQLiteRecordStore(tmp_path / "records.sqlite3")
    units = [
        Unit(f"{scope}-{k}", scope, "fact", f"{scope} kept the {TOPICS[k % len(TOPICS)]} {k}", "c", START, {})
        for scope, n in (("large", TIER + 5), ("small", 5))
        for k in range(n)
    ]
    store.put_units(units)
    assert list(store._postings) == ["small"]
    store.drain_lexical()
    assert store.bm25("large", store.lexical_terms("cello", "large"), sorted(ITEM_KINDS), 3)
    assert served  # and tantivy ranks it
    store.close()
