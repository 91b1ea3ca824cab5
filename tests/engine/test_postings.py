"""BM25 of small scopes in memory: FTS5's ranking from the scope's own postings, following every write."""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from evermem_integrations.datasets.locomo import LocomoConversation
from evermem_integrations.engine import filters, postings
from evermem_integrations.engine.records import SCHEMA_VERSION, SQLiteRecordStore, Unit
from tests.engine.layouts import as_layout_12

T0 = datetime(2024, 1, 10, 9, 0, tzinfo=UTC)
QUERIES = ("support group", "running painting kids", "adoption agencies", "summer camping trip", "北京下雨")
KINDS = (["fact"], ["fact", "message"], ["episode"], ["fact", "episode"])


def _unit(scope: str, n: int, text: str, subject: str | None = None, kind: str | None = None) -> Unit:
    return Unit(
        id=f"{scope}-{n}",
        scope=scope,
        kind=kind or ("episode" if n % 7 == 0 else "message" if n % 3 == 0 else "fact"),
        text=text,
        cell_id="c",
        timestamp=T0 + timedelta(hours=n),
        data={} if subject is None else {"subject": subject},
    )


def _chat(scope: str, locomo: list[LocomoConversation], count: int = 300) -> list[Unit]:
    messages = locomo[0].messages[:count]
    units = [_unit(scope, n, m.content, m.sender) for n, m in enumerate(messages)]
    extra = [_unit(scope, count, "今天北京下雨了", "Caroline"), _unit(scope, count + 1, "Running runs ran daily.")]
    return units + extra


class _RolledBack(Exception):
    pass


def _fts5_rankings(
    store: SQLiteRecordStore, scope: str, where: filters.Filter | None
) -> dict[tuple[str, tuple[str, ...]], list[tuple[str, float]]]:
    """FTS5's ranking of each query and kinds: the scope indexed in FTS5 as the tier's are, then rolled back."""
    rankings = {}
    try:
        with store.transaction() as conn:
            sid = store._scope_id(scope)
            assert sid is not None
            store._index_in_fts5(conn, scope, sid)
            for query in QUERIES:
                terms = store.lexical_terms(query, scope)
                for kinds in KINDS:
                    rankings[query, tuple(kinds)] = store._ranked_by_fts5(scope, sid, terms, kinds, 25, where)
            raise _RolledBack
    except _RolledBack:
        pass
    with store.transaction() as conn:  # a small scope has no FTS5 entries
        assert tuple(conn.execute("SELECT count(*) FROM units_fts").fetchone()) == (0,)
    return rankings


def _assert_ranked_as_fts5(store: SQLiteRecordStore, scope: str, where: filters.Filter | None = None) -> None:
    """The in-memory ranking gives FTS5's scores and, above the last one (ties may cut there), its units."""
    rankings = _fts5_rankings(store, scope, where)
    for query in QUERIES:
        terms = store.lexical_terms(query, scope)
        for kinds in KINDS:
            expected = rankings[query, tuple(kinds)]
            got = store.bm25(scope, terms, kinds, 25, where)
            assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-9), (query, kinds)
            if expected:
                cutoff = expected[-1][1] * (1 + 1e-9)
                assert {i for i, s in got if s > cutoff} == {i for i, s in expected if s > cutoff}, (query, kinds)


def test_a_scope_alone_in_its_store_ranks_as_fts5_ranks_it(locomo: list[LocomoConversation]) -> None:
    store = SQLiteRecordStore(None)
    store.put_units(_chat("s", locomo))
    _assert_ranked_as_fts5(store, "s")
    assert store.bm25("s", store.lexical_terms("Running", "s"), ["fact"], 5)  # porter stems, as FTS5's
    assert store.bm25("s", store.lexical_terms("zebra", "s"), ["fact"], 5) == []


def test_a_scopes_ranking_is_its_own_whatever_other_tenants_store(locomo: list[LocomoConversation]) -> None:
    """FTS5 weighs a term by the whole store: another tenant's words changed this one's scores."""
    store = SQLiteRecordStore(None)
    store.put_units(_chat("a", locomo, 60))
    terms = store.lexical_terms("support group kids", "a")
    alone = store.bm25("a", terms, ["fact", "message"], 20)
    assert alone
    store.put_units([_unit("b", n, "The support group took the kids on a trip") for n in range(200)])
    assert store.bm25("a", terms, ["fact", "message"], 20) == alone
    assert all(unit_id.startswith("a-") for unit_id, _ in alone)


def test_filters_are_judged_on_the_in_memory_ranking(locomo: list[LocomoConversation]) -> None:
    store = SQLiteRecordStore(None)
    store.put_units(_chat("s", locomo))
    for where in (
        {"subject": "Caroline"},
        {"subject": {"$in": ["Melanie", "nobody"]}, "timestamp": {"$gte": (T0 + timedelta(hours=100)).isoformat()}},
        {"timestamp": {"$lt": (T0 + timedelta(hours=50)).isoformat()}},
        {"kind": "message"},
    ):
        _assert_ranked_as_fts5(store, "s", filters.parse(where))


def test_postings_follow_this_stores_writes_without_reading_the_scope_again(
    tmp_path: Path, locomo: list[LocomoConversation], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "records.sqlite3"
    store = SQLiteRecordStore(path)
    chat = _chat("s", locomo)
    store.put_units(chat[:150])
    store.bm25("s", store.lexical_terms("support group", "s"), ["fact"], 5)  # read once
    reads = []
    monkeypatch.setattr(postings.ScopePostings, "of", classmethod(lambda cls, *a: reads.append(a) or cls))
    for start in range(150, len(chat), 20):  # many writes: segments merged as they pile up
        store.put_units(chat[start : start + 20])
    store.put_units([_unit("s", n, f"Replaced: the support group met again, time {n}") for n in range(0, 40, 3)])
    store.remove_units("s", [f"s-{n}" for n in range(1, 120, 2)])  # a quarter gone: merged without them
    _assert_ranked_as_fts5(store, "s")
    assert reads == []
    monkeypatch.undo()
    other = SQLiteRecordStore(path)  # another process reads the scope from its rows
    for query in QUERIES:
        terms = other.lexical_terms(query, "s")
        assert other.bm25("s", terms, ["fact", "message"], 25) == store.bm25("s", terms, ["fact", "message"], 25)
    store.close()
    other.close()


def test_a_scope_new_to_the_store_is_searched_without_reading_it_and_one_already_stored_is_read(
    tmp_path: Path, locomo: list[LocomoConversation], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scope's first write in a store starts its postings: its first search reads none of its units.

    A scope that held units before this process wrote it is read at its first search here.
    """
    path = tmp_path / "records.sqlite3"
    store = SQLiteRecordStore(path)
    reads: list[tuple[object, ...]] = []
    read = postings.ScopePostings.of.__func__  # type: ignore[attr-defined]
    monkeypatch.setattr(postings.ScopePostings, "of", classmethod(lambda cls, *a: reads.append(a) or read(cls, *a)))
    chat = _chat("s", locomo)
    for start in range(0, len(chat), 20):
        store.put_units(chat[start : start + 20])
    store.remove_units("s", [f"s-{n}" for n in range(1, 60, 2)])
    _assert_ranked_as_fts5(store, "s")
    assert reads == []
    other = SQLiteRecordStore(path)  # another process: "s" held units before it wrote there
    other.put_units([_unit("s", 999, "Caroline joined a support group for painters", kind="fact")])
    assert list(other._postings) == []
    terms = other.lexical_terms("support group", "s")
    assert other.bm25("s", terms, ["fact"], 5)[0][0] == "s-999"
    assert len(reads) == 1
    store.close()
    other.close()


def test_a_write_by_another_process_is_seen_at_the_next_search(tmp_path: Path) -> None:
    path = tmp_path / "records.sqlite3"
    reader, writer = SQLiteRecordStore(path), SQLiteRecordStore(path)
    reader.put_units([_unit("s", n, f"Ana talked about family plans number {n}", kind="fact") for n in range(30)])
    terms = reader.lexical_terms("kayak family", "s")
    assert reader.bm25("s", terms, ["fact"], 3)[0][0] != "s-99"
    writer.put_units([_unit("s", 99, "Ana bought a kayak", kind="fact")])
    assert reader.bm25("s", terms, ["fact"], 3)[0][0] == "s-99"
    writer.remove_units("s", ["s-99"])
    assert "s-99" not in {i for i, _ in reader.bm25("s", terms, ["fact"], 50)}
    writer.delete_scope("s")
    assert reader.bm25("s", terms, ["fact"], 50) == []
    reader.close()
    writer.close()


def test_a_rolled_back_write_leaves_nothing_in_the_ranking(tmp_path: Path) -> None:
    store = SQLiteRecordStore(tmp_path / "records.sqlite3")
    store.put_units([_unit("s", n, f"Ana talked about family plans number {n}", kind="fact") for n in range(30)])
    terms = store.lexical_terms("kayak", "s")
    assert store.bm25("s", terms, ["fact"], 3) == []
    with pytest.raises(RuntimeError), store.transaction():
        store.put_units([_unit("s", 99, "Ana bought a kayak", kind="fact")])
        assert [i for i, _ in store.bm25("s", terms, ["fact"], 3)] == ["s-99"]  # the writer sees its write
        raise RuntimeError("the caller gives up")
    assert store.bm25("s", terms, ["fact"], 3) == []
    store.close()


def test_a_store_of_layout_10_gives_each_scope_a_version_and_ranks_as_before(
    tmp_path: Path, locomo: list[LocomoConversation]
) -> None:
    path = tmp_path / "records.sqlite3"
    store = SQLiteRecordStore(path)
    store.put_units(_chat("s", locomo, 80))
    store.put_units([_unit("t", 0, "Bo has a kayak", kind="fact")])
    before = {q: store.bm25("s", store.lexical_terms(q, "s"), ["fact", "message"], 20) for q in QUERIES}
    store.close()
    with sqlite3.connect(path) as conn:  # what layout 10 held: no versions of the lexical entries
        as_layout_12(conn)
        conn.execute("DROP TABLE lexical_versions")
        conn.execute("PRAGMA user_version = 10")
    store = SQLiteRecordStore(path)
    assert store._tuples("PRAGMA user_version")[0][0] == SCHEMA_VERSION
    assert {
        scope
        for (scope,) in store._tuples("SELECT s.key FROM lexical_versions AS v JOIN scopes AS s ON s.id = v.scope")
    } == {"s", "t"}
    assert {q: store.bm25("s", store.lexical_terms(q, "s"), ["fact", "message"], 20) for q in QUERIES} == before
    store.put_units([_unit("t", 1, "Bo sold the kayak", kind="fact")])
    assert [i for i, _ in store.bm25("t", store.lexical_terms("kayak", "t"), ["fact"], 5)] == ["t-0", "t-1"]
    store.close()


def test_a_scope_beyond_the_cache_budget_is_read_again_and_ranks_the_same(locomo: list[LocomoConversation]) -> None:
    store = SQLiteRecordStore(None)
    store.put_units(_chat("a", locomo, 100) + _chat("b", locomo, 100))
    store._postings.drop()  # as in a process that did not write them
    terms = store.lexical_terms("support group", "a")
    first = store.bm25("a", terms, ["fact"], 10)
    store._postings.budget = 1  # only the scope searched last stays
    store.bm25("b", terms, ["fact"], 10)
    assert list(store._postings) == ["b"]
    assert store.bm25("a", terms, ["fact"], 10) == first
    store.close()


def test_a_search_inside_a_write_transaction_beside_another_search_does_not_deadlock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An in-memory store reads on the writer's connection: one search reading a scope waits for a transaction
    that itself searches; the transaction's search must not wait for the first one in turn."""
    store = SQLiteRecordStore(None)
    store.put_units([_unit(s, n, f"Ana talked about kayak plan {n}", kind="fact") for s in "ab" for n in range(30)])
    store._postings.drop()  # both scopes are read at their first search
    terms = store.lexical_terms("kayak", "a")
    reading, in_transaction, found = threading.Event(), threading.Event(), []
    read = SQLiteRecordStore._postings_from_rows

    def held_read(self: SQLiteRecordStore, scope: str, sid: int, version: int) -> postings.ScopePostings:
        if scope == "a":  # the first search is reading when the transaction starts
            reading.set()
            in_transaction.wait(10)
        return read(self, scope, sid, version)

    monkeypatch.setattr(SQLiteRecordStore, "_postings_from_rows", held_read)

    def writer() -> None:
        reading.wait(10)
        with store.transaction():
            in_transaction.set()
            time.sleep(0.1)  # the first search now waits for the store
            found.append(store.bm25("b", terms, ["fact"], 3))

    def reader() -> None:
        found.append(store.bm25("a", terms, ["fact"], 3))

    threads = [threading.Thread(target=writer, daemon=True), threading.Thread(target=reader, daemon=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(thread.is_alive() for thread in threads)
    assert len(found) == 2 and all(found)


def test_tokens_beyond_ascii_are_fts5s() -> None:
    """Accents fold on Latin letters only; compatibility forms ("½", "ﬁ", full-width) stay as FTS5 keeps them."""
    texts = [
        "café Ñandú Łódź Ærø naïve résumé coöperate Việt",
        "привет Ёлка ёж Ελλάδα Ἀθῆναι",
        "★ € © ™ ° ½ ² x²+y² ＝ 9 Ａｂｃ",
        "ß ﬁ Ⅻ ١٢ Ⓐ x\u200by naı̈ve",
        "don't x_y 3pm … “quoted” – dash",
    ]
    with sqlite3.connect(":memory:") as conn:
        conn.execute("CREATE VIRTUAL TABLE f USING fts5 (body, tokenize = 'porter unicode61 remove_diacritics 2')")
        conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab (f, 'instance')")
        conn.executemany("INSERT INTO f (rowid, body) VALUES (?, ?)", list(enumerate(texts, 1)))
        for n, text in enumerate(texts, 1):
            fts5 = [term for (term,) in conn.execute("SELECT term FROM v WHERE doc = ? ORDER BY offset", (n,))]
            assert postings.lexical_tokens(text) == fts5, text
