"""The record store's lexical index: partitions, and what BM25 leaves out of large indexes (both backends)."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from evermem_integrations.engine import records
from evermem_integrations.engine.records import RecordStore, SQLiteRecordStore, Unit

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
    assert {unit_id for unit_id, _ in store.bm25("a", store.lexical_terms("kayak"), ["fact"], 10)} == {"a-40"}
    assert {unit_id for unit_id, _ in store.bm25("b", store.lexical_terms("kayak family"), ["fact"], 10)} == {"b-0"}
    assert store.bm25("a", store.lexical_terms("kayak"), ["episode"], 10) == []


def test_a_large_index_scores_only_the_selective_terms(store: RecordStore, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = store.bm25("a", store.lexical_terms("family kayak"), ["fact"], 100)
    assert len(everything) == 41  # a small index scores every term
    monkeypatch.setattr(records, "LARGE_INDEX", 10)
    assert [unit_id for unit_id, _ in store.bm25("a", store.lexical_terms("family kayak"), ["fact"], 100)] == ["a-40"]
    # a query of common terms only keeps the rarest of them, so it still finds something
    assert len(store.bm25("a", store.lexical_terms("family plans"), ["fact"], 100)) == 40
    assert store.bm25("a", store.lexical_terms("zebra"), ["fact"], 100) == []
