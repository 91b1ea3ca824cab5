"""The server pair: records in a real PostgreSQL, vectors in a real `chroma run`, both on 127.0.0.1."""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest
from pydantic import ValidationError

from evermem_integrations import DatabaseConfig, EverMem
from evermem_integrations.datasets import LocomoConversation, LongMemEvalQuestion
from evermem_integrations.engine import postgres as pg_store
from evermem_integrations.engine import records
from evermem_integrations.engine.ingest import message_units
from evermem_integrations.engine.models import Message
from evermem_integrations.engine.postgres import PostgresRecordStore
from evermem_integrations.engine.protocols import RecordStore
from evermem_integrations.engine.records import SQLiteRecordStore, Unit
from evermem_integrations.errors import ConfigurationError, StoreBusyError, StoreUnavailableError, StoreVersionError
from tests.conftest import ChromaServer, PostgresServer
from tests.engine.write_path_support import conversation, vector_ids

pytestmark = pytest.mark.integration

WRITER = Path(__file__).with_name("writer_process.py")
TABLES = ("messages", "cells", "facts", "subjects", "foresight", "scenes", "profile", "meta", "units", "postings")


def rows(url: str, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, options="-c search_path=evermem") as conn:
        return conn.execute(sql, params).fetchall()


def scope_rows(url: str, scope: str) -> dict[str, int]:
    counts = {t: rows(url, f"SELECT count(*) FROM {t} WHERE scope = %s", [scope])[0][0] for t in TABLES}
    counts["stats"] = rows(url, "SELECT count(*) FROM lexical_stats WHERE scope = %s AND docs > 0", [scope])[0][0]
    counts["outbox"] = rows(url, "SELECT count(*) FROM vector_outbox WHERE scope = %s", [scope])[0][0]
    return counts


def pg_unit_ids(url: str, scope: str) -> set[str]:
    return {r[0] for r in rows(url, "SELECT id FROM units WHERE scope = %s", [scope])}


def test_both_stores_have_every_method_of_the_protocol() -> None:
    wanted = {name for name in vars(RecordStore) if not name.startswith("_")}
    for store in (SQLiteRecordStore, PostgresRecordStore):
        assert wanted <= set(dir(store)), wanted - set(dir(store))


def test_add_search_flush_isolate_reopen_and_delete_on_the_server_pair(
    database_url: str, chroma_url: str, locomo: list[LocomoConversation]
) -> None:
    messages = locomo[0].messages[:120]
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="pair") as mem:
        mem.add(messages, group_id="g1")
        mem.flush(group_id="g1")
        mem.add(
            [{"sender": "Bo", "content": "I keep bees in my garden in Oslo.", "timestamp": 1_700_000_000}], user_id="bo"
        )
        result = mem.search("When did Caroline go to the LGBTQ support group?", group_id="g1")
        assert "7 May 2023" in result.context
        assert "D1:3" in {s for item in result.items for s in item.source_message_ids}
        assert "bees" not in result.context  # another tenant's memory
        assert mem.search("Caroline support group", user_id="bo").items == [] or all(
            "Caroline" not in i.text for i in mem.search("Caroline support group", user_id="bo").items
        )
        stats = mem.stats(group_id="g1")
        assert stats.messages == 120 and stats.buffered == 0 and stats.memcells > 0
    assert not Path(".evermem").exists()
    # another process's engine (here: a new one) on the same servers sees everything
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="pair") as mem:
        again = mem.search("When did Caroline go to the LGBTQ support group?", group_id="g1")
        assert [i.id for i in again.items] == [i.id for i in result.items]
        assert mem.stats(group_id="g1") == stats
        assert vector_ids(mem, "group=g1") == pg_unit_ids(database_url, "group=g1")
        assert mem.delete(group_id="g1") == 1
        assert mem.search("support group", group_id="g1").items == []
        assert mem.search("bees", user_id="bo").items
        assert vector_ids(mem, "group=g1") == set()
    assert set(scope_rows(database_url, "group=g1").values()) == {0}  # no residue in PostgreSQL
    assert scope_rows(database_url, "user=bo")["units"] > 0


def _units(scope: str, texts: list[str]) -> list[Unit]:
    return [
        Unit(
            id=f"{scope}-{n}",
            scope=scope,
            kind="fact" if n % 3 else "episode",
            text=t,
            cell_id="c",
            timestamp=None,
            data={},
        )
        for n, t in enumerate(texts)
    ]


def test_bm25_ranks_and_scores_as_fts5_in_one_scope(database_url: str, locomo: list[LocomoConversation]) -> None:
    texts = [m.content for m in locomo[0].messages[:300]] + [
        "Running runs ran: the runner runs daily.",
        "今天北京下雨了",
    ]
    sqlite_store, pg_store = SQLiteRecordStore(None), PostgresRecordStore(database_url)
    try:
        for store in (sqlite_store, pg_store):
            store.put_units(_units("s", texts))
            store.put_units(_units("s", texts[:20]))  # replacing units leaves the statistics right
            store.remove_units("s", ["s-5", "s-6"])
        for query in ("support group", "running painting kids", "adoption agencies", "北京下雨", "summer camping trip"):
            terms = sqlite_store.lexical_terms(query, "s")
            assert pg_store.lexical_terms(query, "s") == terms
            for kinds in (["fact"], ["fact", "episode"]):
                expected = sqlite_store.bm25("s", terms, kinds, 15)
                got = pg_store.bm25("s", terms, kinds, 15)
                assert expected, query
                assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-6), query
                assert {i for i, _ in got} == {i for i, _ in expected} or len(got) == 15
    finally:
        sqlite_store.close()
        pg_store.close()


def test_bm25_ranks_long_turns_cut_in_pieces_as_fts5(
    database_url: str, longmemeval_question: LongMemEvalQuestion
) -> None:
    # A LongMemEval haystack: long assistant turns, each indexed as pieces of one message.
    messages = longmemeval_question.messages()[:200]
    units = [unit for m in messages for unit in message_units("s", m, kind="raw", cell_id=None)]
    assert len(units) > len(messages)
    sqlite_store, pg_store = SQLiteRecordStore(None), PostgresRecordStore(database_url)
    try:
        for store in (sqlite_store, pg_store):
            store.put_units(units)
        queries = [longmemeval_question.question, *(m.content[:80] for m in messages[::40] if m.role == "user")]
        for query in queries:
            terms = sqlite_store.lexical_terms(query, "s")
            assert pg_store.lexical_terms(query, "s") == terms
            expected = sqlite_store.bm25("s", terms, ["raw"], 40)
            got = pg_store.bm25("s", terms, ["raw"], 40)
            assert expected, query
            assert [s for _, s in got] == pytest.approx([s for _, s in expected], rel=1e-6), query
            cutoff = expected[-1][1] * (1 + 1e-9)  # below it, ties may cut the two rankings apart
            assert {i for i, s in got if s > cutoff} == {i for i, s in expected if s > cutoff}, query
    finally:
        sqlite_store.close()
        pg_store.close()


def test_bm25_with_a_filter_ranks_only_what_passes(database_url: str, chroma_url: str) -> None:
    from evermem_integrations.engine import filters

    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="filters") as mem:
        mem.add(
            [
                {
                    "sender": "Ana",
                    "content": f"I bought kayak number {n}.",
                    "timestamp": f"2024-01-01T10:0{n}:00Z",
                    "metadata": {"app": app},
                }
                for n, app in enumerate(["a", "b", "a", "b"])
            ],
            user_id="a",
        )
        mem.add([{"sender": "Bo", "content": "A kayak for me too.", "timestamp": "2024-01-03"}], user_id="b")
        terms = mem.records.lexical_terms("kayak", "user=a")
        everything = mem.records.bm25("user=a", terms, ["raw"], 10)
        assert len(everything) == 4, mem.stats(user_id="a")
        only_b = mem.records.bm25("user=a", terms, ["raw"], 10, filters.parse({"app": "b"}))
        assert [i for i, _ in only_b] == [
            i for i, _ in everything if mem.records.units("user=a", [i])[i].metadata["app"] == ["b"]
        ]
        assert len(mem.records.bm25("user=a", terms, ["raw"], 1, filters.parse({"app": "b"}))) == 1
        assert mem.records.units("user=b", [i for i, _ in everything]) == {}  # the tenant wall
        texts = [i.text for i in mem.search("kayak", user_id="a", filters={"app": "a"}, method="keyword").items]
        assert texts and all("number 0" in t or "number 2" in t for t in texts)


def test_a_database_url_needs_a_shared_vector_store(database_url: str) -> None:
    with pytest.raises(ConfigurationError, match="chroma_url"):
        EverMem(path=None, database_url=database_url)


def test_an_unreachable_server_is_a_store_error_that_says_what_to_start() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailableError, match=f"cannot reach PostgreSQL at 127.0.0.1:{port}.*start the server"):
        PostgresRecordStore(f"postgresql://postgres@127.0.0.1:{port}/none", DatabaseConfig(connect_timeout_s=1))


def test_a_newer_layout_is_refused_and_an_older_one_migrated(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    PostgresRecordStore(database_url).close()
    # Back to version 1, with a scope written then.
    with psycopg.connect(database_url, autocommit=True, options="-c search_path=evermem") as conn:
        conn.execute("DROP TABLE exact_vectors, indexed_scopes, exact_versions")
        conn.execute("UPDATE schema_migrations SET version = 1")
        conn.execute(
            "INSERT INTO units (scope, id, kind, ts, text, data, meta, doc_len) "
            "VALUES ('user=old', 'f1', 'fact', 0, 'Ana: hi', '{}', '{}', 2)"
        )
    PostgresRecordStore(database_url).close()
    assert [r[0] for r in rows(database_url, "SELECT version FROM schema_migrations ORDER BY version")] == [1, 2, 3]
    assert rows(database_url, "SELECT scope FROM indexed_scopes") == [("user=old",)]  # its vectors are in Chroma
    monkeypatch.setattr(pg_store, "SCHEMA_VERSION", 4)
    later = {**pg_store.MIGRATIONS, 4: ["CREATE INDEX units_ts ON units (scope, ts)"]}
    monkeypatch.setattr(pg_store, "MIGRATIONS", later)
    PostgresRecordStore(database_url).close()
    assert [r[0] for r in rows(database_url, "SELECT version FROM schema_migrations ORDER BY version")] == [1, 2, 3, 4]
    assert rows(database_url, "SELECT 1 FROM pg_indexes WHERE indexname = 'units_ts'")
    monkeypatch.setattr(pg_store, "SCHEMA_VERSION", 3)
    with pytest.raises(StoreVersionError, match="layout version 4"):
        PostgresRecordStore(database_url)


def test_a_database_of_layout_2_gets_its_float32_vectors_in_a_byte_per_dimension(
    database_url: str, chroma_url: str
) -> None:
    def open_mem() -> EverMem:
        return EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="quantize")

    with open_mem() as mem:
        mem.add(conversation(8), user_id="q")
        mem.flush(user_id="q")
        held = mem.records.exact_vectors("user=q")
        expected = [i.id for i in mem.search("my cat Miso", user_id="q", method="vector").items]
    with psycopg.connect(database_url, autocommit=True, options="-c search_path=evermem") as conn:
        for unit_id, row in zip(held.ids, held.matrix, strict=True):  # as layout 2 stored them
            conn.execute(
                "UPDATE exact_vectors SET vector = %s WHERE id = %s", [row.astype(np.float32).tobytes(), unit_id]
            )
        conn.execute("UPDATE schema_migrations SET version = 2")
    with open_mem() as mem:
        migrated = mem.records.exact_vectors("user=q")
        assert migrated.ids == held.ids and np.abs(migrated.matrix - held.matrix).max() < 2e-2
        assert [i.id for i in mem.search("my cat Miso", user_id="q", method="vector").items] == expected
    lengths = rows(database_url, "SELECT DISTINCT length(vector) FROM exact_vectors WHERE scope = 'user=q'")
    assert lengths == [(4 + held.matrix.shape[1],)]


def test_a_restarted_server_gives_a_clear_error_then_a_retry_works(postgres: PostgresServer, chroma_url: str) -> None:
    url = postgres.new_database()
    quick = DatabaseConfig(connect_timeout_s=2)
    with EverMem(path=None, database_url=url, database=quick, chroma_url=chroma_url, collection_name="restart") as mem:
        mem.add(conversation(6), user_id="r")
        postgres.stop()
        try:
            with pytest.raises(
                StoreUnavailableError, match=r"cannot reach PostgreSQL.*nothing of this call was written"
            ):
                mem.add(conversation(12)[6:], user_id="r")
            with pytest.raises(StoreUnavailableError, match="start the server"):
                mem.search("cat Miso", user_id="r")
        finally:
            postgres.start()
        assert mem.stats(user_id="r").messages == 6  # nothing lost, nothing half-written
        assert mem.add(conversation(12)[6:], user_id="r").added == 6  # the retry, on the same engine
        mem.flush(user_id="r")
        assert mem.stats(user_id="r").messages == 12
        assert mem.search("adopted a cat", user_id="r", method="keyword").items
        assert vector_ids(mem, "user=r") == pg_unit_ids(url, "user=r")
        postgres.stop()  # a restart between two calls: the pooled connections are dead, no call fails
        postgres.start()
        assert mem.search("adopted a cat", user_id="r", method="keyword").items
        assert mem.add(conversation(14)[12:], user_id="r").added == 2


def test_two_schemas_of_one_database_are_two_memories(database_url: str, chroma_url: str) -> None:
    def engine(schema: str) -> EverMem:
        return EverMem(
            path=None,
            database_url=database_url,
            database=DatabaseConfig(schema=schema),
            chroma_url=chroma_url,
            collection_name=f"schemas-{schema}",
        )

    with engine("team_a") as a, engine("team_b") as b:
        a.add(conversation(6), user_id="same")
        a.flush(user_id="same")
        assert a.search("Lisbon wedding", user_id="same", method="keyword").items
        assert b.stats(user_id="same").messages == 0
        assert not b.search("Lisbon wedding", user_id="same", method="keyword").items
        b.add(conversation(2), user_id="same")  # a writer of the same scope name in the other schema
        assert a.stats(user_id="same").messages == 6
    schemas = {r[0] for r in rows(database_url, "SELECT table_schema FROM information_schema.tables")}
    assert {"team_a", "team_b"} <= schemas and "evermem" not in schemas


@pytest.mark.parametrize("schema", ["Team", "a-b", "x; DROP TABLE units", "", "9lives"])
def test_a_schema_name_that_is_not_a_plain_identifier_is_refused(schema: str) -> None:
    with pytest.raises(ValidationError, match="schema"):
        DatabaseConfig(schema=schema)


def test_an_exhausted_pool_is_busy_not_down_and_recovers(database_url: str) -> None:
    store = PostgresRecordStore(database_url, DatabaseConfig(pool_size=2, connect_timeout_s=1))
    holding, release = threading.Barrier(3), threading.Event()

    def hold(scope: str) -> None:  # a long write transaction keeps its connection
        with store.transaction():
            store.count_buffered(scope)
            holding.wait(timeout=10)
            release.wait(timeout=10)

    threads = [threading.Thread(target=hold, args=(f"held{n}",)) for n in range(2)]
    try:
        for thread in threads:
            thread.start()
        holding.wait(timeout=10)
        with pytest.raises(StoreBusyError, match=r"all 2 PostgreSQL connections.*pool_size"):
            store.count_buffered("s")
    finally:
        release.set()
        for thread in threads:
            thread.join()
    try:
        assert store.count_buffered("s") == 0  # the pool was kept: its connections serve the next call
    finally:
        store.close()


def test_a_stopped_chroma_server_gives_a_clear_error_then_a_retry_works(
    database_url: str, chroma_server: ChromaServer, caplog: pytest.LogCaptureFixture
) -> None:
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_server.url, exact_search_vectors=0) as mem:
        mem.add(conversation(6), user_id="c")
        mem.flush(user_id="c")
        chroma_server.stop()
        try:
            # The records commit on PostgreSQL; the vectors wait in the outbox with a warning.
            assert mem.add(conversation(12)[6:9], user_id="c").added == 3
            assert "vector index not updated" in caplog.text
            assert mem.stats(user_id="c").messages == 9
            assert mem.search("Lisbon wedding", user_id="c", method="keyword").items
            with pytest.raises(StoreUnavailableError, match="chroma run"):
                mem.search("Lisbon wedding", user_id="c")  # the vector half cannot answer
            with pytest.raises(StoreUnavailableError, match="chroma run"):
                mem.add(conversation(12)[9:], user_id="c")  # the queued vectors come first
        finally:
            chroma_server.start()
        assert mem.stats(user_id="c").messages == 9  # the refused call wrote nothing
        assert mem.add(conversation(12)[9:], user_id="c").added == 3  # the retry
        mem.flush(user_id="c")
        assert mem.search("Lisbon wedding", user_id="c").items
        assert vector_ids(mem, "user=c") == pg_unit_ids(database_url, "user=c")  # the outbox was drained


def test_writers_of_one_scope_queue_and_see_what_the_one_before_claimed(database_url: str) -> None:
    store = PostgresRecordStore(database_url)
    try:
        moment = datetime(2024, 1, 1, tzinfo=UTC)
        store.insert_messages("s", [Message(id="m1", sender="Ana", content="hi", timestamp=moment)])
        claimed, seen, other_scope = threading.Event(), [], []

        def first() -> None:
            with store.transaction():
                assert store.buffered_ids("s", ["m1"]) == {"m1"}
                store.delete_messages("s", ["m1"])  # claimed, not yet committed
                claimed.set()
                time.sleep(0.6)

        thread = threading.Thread(target=first)
        thread.start()
        claimed.wait(timeout=10)
        started = time.monotonic()
        with store.transaction():  # another scope does not wait
            store.insert_messages("t", [Message(id="m2", sender="Bo", content="yo", timestamp=moment)])
        other_scope.append(time.monotonic() - started)
        with store.transaction():  # the same scope waits for the first writer's commit, then sees its claim
            seen.append(store.buffered_ids("s", ["m1"]))
        thread.join()
        assert seen == [set()]
        assert other_scope[0] < 0.3
    finally:
        store.close()


def test_a_drain_of_the_outbox_clears_only_the_changes_it_read(database_url: str) -> None:
    store, vector = PostgresRecordStore(database_url), np.ones(4, dtype=np.float32)
    try:
        store.queue_vectors("a", [("u1", "fact", vector)], [])
        held, release = threading.Event(), threading.Event()

        def slow_writer() -> None:  # takes its outbox number now, commits after the drain has read
            with store.transaction():
                store.queue_vectors("b", [("u2", "fact", vector)], [])
                held.set()
                release.wait(timeout=10)

        thread = threading.Thread(target=slow_writer)
        thread.start()
        held.wait(timeout=10)
        store.queue_vectors("c", [("u3", "fact", vector)], [])
        with store.transaction():
            pending = store.pending_vectors()
            release.set()
            thread.join()
            store.clear_vectors(max(p.seq for p in pending))
        assert sorted(p.unit_id for p in pending) == ["u1", "u3"]
        assert [p.unit_id for p in store.pending_vectors()] == ["u2"]  # committed late, not lost
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_a_scope_deleted_during_another_engines_outbox_drain_leaves_no_vector(
    backend: str, chroma_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A delete must not slip between a drain's read of the outbox and its write to Chroma."""
    if backend == "postgres":
        database_url = request.getfixturevalue("database_url")
        where: dict[str, Any] = {"path": None, "database_url": database_url}
    else:  # two engines on one SQLite file, as two processes of one machine with a Chroma server
        where = {"path": tmp_path}
    writer = EverMem(**where, chroma_url=chroma_url, collection_name=f"race-{backend}")
    deleter = EverMem(**where, chroma_url=chroma_url, collection_name=f"race-{backend}")
    draining, deleted = threading.Event(), threading.Event()
    upsert = writer.vectors.upsert

    def upsert_after_a_pause(*args: Any, **kwargs: Any) -> None:
        # Hold the drain between its read and its write; a delete that can run now finishes first.
        draining.set()
        deleted.wait(timeout=3)
        upsert(*args, **kwargs)

    writer.vectors.upsert = upsert_after_a_pause  # type: ignore[method-assign]
    adding = threading.Thread(
        target=writer.add,
        args=([{"sender": "Ada", "content": "I keep bees in Oslo.", "timestamp": 1_700_000_000}],),
        kwargs={"user_id": "ada"},
    )
    try:
        adding.start()
        assert draining.wait(timeout=30)
        deleter.delete(user_id="ada")
        deleted.set()
        adding.join(timeout=30)
        assert vector_ids(deleter, "user=ada") == set()
        assert deleter.stats(user_id="ada").messages == 0
        if backend == "postgres":
            assert set(scope_rows(database_url, "user=ada").values()) == {0}
    finally:
        deleted.set()
        adding.join(timeout=30)
        writer.close()
        deleter.close()


# -- several processes -----------------------------------------------------------------------------
HOBBIES = [
    "I keep bees and harvest honey from the hives in my garden.",
    "I repair vintage motorcycles in my garage every weekend.",
    "I play the cello in the city orchestra.",
    "I grow tomatoes and basil on my balcony.",
]
KEYWORDS = ["honey", "motorcycles", "cello", "tomatoes"]
VECTOR_QUERIES = ["beekeeping and hives", "fixing old motorbikes", "playing a string instrument", "vegetable gardening"]


def _shared_writer(n: int, workdir: str, database_url: str, chroma_url: str, barrier: Any, out: Any) -> None:
    os.chdir(workdir)  # no shared local files: every process in a folder of its own
    messages = conversation(96)
    mine = messages[n::4]
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="four") as mem:
        mem.add(
            [{"id": f"h{n}", "sender": f"W{n}", "content": HOBBIES[n], "timestamp": "2024-04-01"}], user_id="shared"
        )
        for start in range(0, len(mine), 3):
            mem.add(mine[start : start + 3], user_id="shared")
        mem.add(messages, user_id="shared")  # everything again: every message is known already
        barrier.wait(timeout=120)
        found = {}
        for other in range(4):
            keyword = mem.search(KEYWORDS[other], user_id="shared", method="keyword")
            vector = mem.search(VECTOR_QUERIES[other], user_id="shared", method="vector")
            found[other] = (
                any(HOBBIES[other] in i.text for i in keyword.items),
                any(HOBBIES[other] in i.text for i in vector.items[:5]),
            )
        out.put((n, found, sorted(os.listdir("."))))


@pytest.mark.slow
def test_four_processes_write_one_scope_and_read_each_other(database_url: str, chroma_url: str, tmp_path: Path) -> None:
    spawn = multiprocessing.get_context("spawn")
    barrier, out = spawn.Barrier(4), spawn.Queue()
    dirs = [tmp_path / f"p{n}" for n in range(4)]
    processes = []
    for n, workdir in enumerate(dirs):
        workdir.mkdir()
        processes.append(
            spawn.Process(target=_shared_writer, args=(n, str(workdir), database_url, chroma_url, barrier, out))
        )
    for process in processes:
        process.start()
    results = [out.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    for n, found, files in sorted(results):
        assert files == [], f"process {n} wrote local files {files}"
        assert found == {other: (True, True) for other in range(4)}, (n, found)
    with EverMem(path=None, database_url=database_url, chroma_url=chroma_url, collection_name="four") as mem:
        mem.flush(user_id="shared")
        cells = mem.get(kind="episode", user_id="shared", limit=10_000)
        slots = [m.id for c in cells for m in c.messages]
        assert len(slots) == len(set(slots)) == 100  # every message in exactly one MemCell
        assert mem.stats(user_id="shared").messages == 100
        assert vector_ids(mem, "user=shared") == pg_unit_ids(database_url, "user=shared")
    assert rows(database_url, "SELECT count(*) FROM vector_outbox")[0][0] == 0


def _writer(database_url: str, chroma_url: str, workdir: Path, *extra: str) -> subprocess.Popen[str]:
    collection = database_url.rsplit("/", 1)[1]  # the vectors of one database apart from another's
    return subprocess.Popen(
        [
            *(sys.executable, str(WRITER), "unused", "k", "0", "40", "4", "--flush", "--chroma-url", chroma_url),
            *("--database-url", database_url, "--collection-name", collection, *extra),
        ],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def pg_snapshot(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a database holds, in a form two runs can be compared in."""
    queries = {
        "messages": "SELECT scope, id, cell_id FROM messages ORDER BY scope, id",
        "cells": "SELECT id, scene_id, data FROM cells ORDER BY id",
        "facts": "SELECT id, superseded_by, data FROM facts ORDER BY id",
        "scenes": "SELECT id, size, data FROM scenes ORDER BY id",
        "profile": "SELECT id, status, data FROM profile ORDER BY id",
        "units": "SELECT id, kind, text, doc_len FROM units ORDER BY id",
        "postings": "SELECT term, unit_id, tf FROM postings ORDER BY term, unit_id",
        "stats": "SELECT scope, docs, total_len FROM lexical_stats WHERE docs > 0 ORDER BY scope",
        "outbox": "SELECT scope, unit_id FROM vector_outbox",
    }
    return {name: rows(url, sql) for name, sql in queries.items()}


@pytest.mark.slow
def test_kill_9_of_a_writer_leaves_a_consistent_store(
    postgres: PostgresServer, chroma_url: str, tmp_path: Path
) -> None:
    clean_url, killed_url = postgres.new_database(), postgres.new_database()
    reference = _writer(clean_url, chroma_url, tmp_path, "--report", str(tmp_path / "clean.json"))
    assert reference.wait(timeout=300) == 0, reference.stderr.read() if reference.stderr else ""
    expected = pg_snapshot(clean_url)
    assert expected["outbox"] == [] and [s[:2] for s in expected["stats"]] == [("user=k", len(expected["units"]))]
    rng = random.Random(20261202)
    for _ in range(3):
        process = _writer(killed_url, chroma_url, tmp_path)
        assert process.stdout is not None
        for _ in range(rng.randrange(1, 10)):
            if not process.stdout.readline():
                break
        time.sleep(rng.uniform(0, 0.05))
        process.kill()
        process.wait()
        # consistent between kills: every unit has its postings and the statistics count what is there
        units = rows(killed_url, "SELECT count(*), coalesce(sum(doc_len), 0) FROM units WHERE scope = 'user=k'")[0]
        stats = rows(killed_url, "SELECT docs, total_len FROM lexical_stats WHERE scope = 'user=k'")
        assert (stats[0] if stats else (0, 0)) == units
    recovered = _writer(killed_url, chroma_url, tmp_path, "--report", str(tmp_path / "killed.json"))
    assert recovered.wait(timeout=300) == 0, recovered.stderr.read() if recovered.stderr else ""
    assert pg_snapshot(killed_url) == expected
    assert json.loads((tmp_path / "killed.json").read_text()) == json.loads((tmp_path / "clean.json").read_text())


def test_the_fts5_tokenizer_is_the_sqlite_stores() -> None:
    assert f"tokenize = '{pg_store.FTS5_TOKENIZER}'" in records._SCHEMA
