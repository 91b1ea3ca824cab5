"""The record store on a PostgreSQL server, for several processes and machines sharing one memory.

Same records and behaviour as the SQLite store (:mod:`~evermem_integrations.engine.records`), with
the guarantees a server needs:

- every table is keyed by scope and every query names it (the tenant wall);
- a write transaction takes ``pg_advisory_xact_lock`` on each scope it touches before its first
  read or write of that scope, so writers of one scope queue as SQLite's ``BEGIN IMMEDIATE`` makes
  them queue, while writers of other scopes go on; the commit-time buffer check then sees what
  the writer before committed;
- the vector outbox is drained by one process at a time (an advisory lock), which deletes only
  the rows it read: a change committed meanwhile waits for the next drain, never lost, and
  the changes of one unit are applied in commit order (one scope's writers are serialised);
- BM25 is computed in SQL over a postings table (term, tf, document length) with per-scope
  statistics, the terms cut by FTS5's own tokenizer (``porter unicode61 remove_diacritics 2``,
  Chinese segmented by jieba first, as today), so a document is split into the same terms on
  both backends.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import numpy as np
import orjson

from evermem_integrations.engine import records
from evermem_integrations.engine.database import DatabaseConfig
from evermem_integrations.engine.filters import Filter as UnitFilter
from evermem_integrations.engine.filters import MetadataValues, chroma_metadata, matches, merge_metadata
from evermem_integrations.engine.models import (
    ConversationMeta,
    Fact,
    Foresight,
    MemCell,
    MemScene,
    Message,
    ProfileItem,
)
from evermem_integrations.engine.records import (
    PendingVector,
    Unit,
    UnitKeys,
    _single_source,
    _sources,
    partition_token,
    record_json,
    supersession_of,
    unit_record,
)
from evermem_integrations.engine.text import lexical_text, query_terms
from evermem_integrations.errors import ConfigurationError, StoreBusyError, StoreUnavailableError, StoreVersionError

try:
    import psycopg
    from psycopg import errors as pg_errors
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - the extra is part of `all`
    raise ConfigurationError(
        "database_url needs the postgres extra: pip install 'evermem-integrations[postgres]'"
    ) from exc

_EXACT_VECTORS = [
    """CREATE TABLE exact_vectors (
        scope text NOT NULL, id text NOT NULL, kind text NOT NULL, vector bytea NOT NULL, PRIMARY KEY (scope, id))""",
    "CREATE TABLE indexed_scopes (scope text PRIMARY KEY)",
    "CREATE TABLE exact_versions (scope text PRIMARY KEY, version bigint NOT NULL)",
]


def _quantize_exact_vectors(conn: psycopg.Connection[Any]) -> None:
    """The float32 vectors of small scopes as :func:`records.exact_vector_blobs` stores them."""
    rows = conn.execute("SELECT scope, id, vector FROM exact_vectors").fetchall()
    with conn.cursor() as cursor:
        cursor.executemany(
            "UPDATE exact_vectors SET vector = %s WHERE scope = %s AND id = %s",
            [(records.quantized_blob(bytes(blob)), scope, unit_id) for scope, unit_id, blob in rows],
        )


LARGE_INDEX = 50_000
"""Units (over all scopes) from which BM25 leaves out the commonest query terms."""
COMMON_TERM_SHARE = 0.05
"""A query term found in more than this share of the units is common."""
SCHEMA_VERSION = 3
"""The newest entry of the migrations table; a database of a newer layout is refused."""
MIGRATIONS: dict[int, list[str | Callable[[psycopg.Connection[Any]], None]]] = {
    2: [
        *_EXACT_VECTORS,
        # The vectors written before live in the vector index.
        "INSERT INTO indexed_scopes SELECT scope FROM units UNION SELECT scope FROM vector_outbox",
    ],
    3: [_quantize_exact_vectors],
}
"""Steps (statements, or functions of the connection) that bring a database of version ``n - 1`` to ``n``:
2 the vectors of small scopes, 3 those vectors in one byte per dimension."""
FTS5_TOKENIZER = "porter unicode61 remove_diacritics 2"
"""The tokenizer of the SQLite store's ``units_fts``: the PostgreSQL store cuts terms with it too."""
BM25_K1 = 1.2
BM25_B = 0.75
"""FTS5's BM25 parameters."""
_SCHEMA_LOCK = 0x65766D736368  # one process creates or migrates the tables
_TABLES = ("messages", "cells", "facts", "subjects", "foresight", "scenes", "profile", "meta", "units")
_MEMORY_TABLES = ("cells", "facts", "foresight", "profile", "scenes", "messages")

_DDL = [
    """CREATE TABLE messages (
        scope text NOT NULL, id text NOT NULL, seq bigserial NOT NULL, content_key text NOT NULL,
        ts double precision NOT NULL, cell_id text, data text NOT NULL, PRIMARY KEY (scope, id))""",
    "CREATE INDEX messages_buffer ON messages (scope, ts, seq) WHERE cell_id IS NULL",
    "CREATE INDEX messages_cell ON messages (scope, cell_id)",
    "CREATE INDEX messages_content ON messages (scope, content_key)",
    "CREATE INDEX messages_id ON messages (id)",
    """CREATE TABLE cells (
        scope text NOT NULL, id text NOT NULL, start_ts double precision NOT NULL,
        end_ts double precision NOT NULL, scene_id text, data text NOT NULL, PRIMARY KEY (scope, id))""",
    "CREATE INDEX cells_start ON cells (scope, start_ts)",
    "CREATE INDEX cells_id ON cells (id)",
    """CREATE TABLE facts (
        scope text NOT NULL, id text NOT NULL, cell_id text NOT NULL, subject text NOT NULL, attribute text,
        ts double precision NOT NULL, superseded_by text, data text NOT NULL, PRIMARY KEY (scope, id))""",
    "CREATE INDEX facts_cell ON facts (scope, cell_id)",
    "CREATE INDEX facts_key ON facts (scope, subject, attribute)",
    "CREATE INDEX facts_superseded ON facts (scope, superseded_by)",
    "CREATE INDEX facts_id ON facts (id)",
    "CREATE TABLE subjects (scope text NOT NULL, subject text NOT NULL, PRIMARY KEY (scope, subject))",
    """CREATE TABLE foresight (
        scope text NOT NULL, id text NOT NULL, cell_id text NOT NULL, start_ts double precision NOT NULL,
        end_ts double precision, data text NOT NULL, PRIMARY KEY (scope, id))""",
    "CREATE INDEX foresight_cell ON foresight (scope, cell_id)",
    "CREATE INDEX foresight_id ON foresight (id)",
    """CREATE TABLE scenes (
        scope text NOT NULL, id text NOT NULL, last_ts double precision NOT NULL, size integer NOT NULL,
        centroid bytea NOT NULL, data text NOT NULL, PRIMARY KEY (scope, id))""",
    "CREATE INDEX scenes_last ON scenes (scope, last_ts)",
    "CREATE INDEX scenes_id ON scenes (id)",
    """CREATE TABLE profile (
        scope text NOT NULL, id text NOT NULL, subject text NOT NULL, attribute text NOT NULL,
        status text NOT NULL, data text NOT NULL, PRIMARY KEY (scope, id))""",
    "CREATE INDEX profile_key ON profile (scope, subject, attribute, status)",
    "CREATE INDEX profile_id ON profile (id)",
    "CREATE TABLE meta (scope text PRIMARY KEY, data text NOT NULL)",
    """CREATE TABLE units (
        scope text NOT NULL, id text NOT NULL, seq bigserial NOT NULL, kind text NOT NULL, cell_id text,
        ts double precision, text text NOT NULL, message_id text, data text NOT NULL, meta text NOT NULL,
        doc_len integer NOT NULL, PRIMARY KEY (scope, id))""",
    "CREATE INDEX units_kind ON units (scope, kind)",
    "CREATE INDEX units_cell ON units (scope, cell_id)",
    "CREATE INDEX units_message ON units (scope, message_id, kind)",
    # The BM25 index: one row per (term, unit) with what the score needs, so ranking reads no unit
    # row; the key carries it too, so a term's postings are read from the index alone, in order.
    """CREATE TABLE postings (
        scope text NOT NULL, term text NOT NULL, unit_id text NOT NULL, kind text NOT NULL,
        tf integer NOT NULL, doc_len integer NOT NULL,
        PRIMARY KEY (scope, term, unit_id) INCLUDE (kind, tf, doc_len))""",
    "CREATE INDEX postings_unit ON postings (scope, unit_id)",
    "CREATE TABLE lexical_stats (scope text PRIMARY KEY, docs bigint NOT NULL, total_len bigint NOT NULL)",
    """CREATE TABLE vector_outbox (
        seq bigserial PRIMARY KEY, scope text NOT NULL, unit_id text NOT NULL, kind text NOT NULL, vector bytea)""",
    "CREATE TABLE vector_refresh (seq bigserial PRIMARY KEY, scope text NOT NULL, unit_id text NOT NULL)",
    *_EXACT_VECTORS,
]


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


def _moment(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def _doubling(
    ranked: Sequence[tuple[str, float]], first: int, most: int = 8_000
) -> Iterator[Sequence[tuple[str, float]]]:
    """A ranking in slices of doubling length, up to ``most``.

    A filter that passes few of the first units is judged over the rest in a few queries, not
    one per slice.
    """
    start, size = 0, first
    while start < len(ranked):
        yield ranked[start : start + size]
        start, size = start + size, min(2 * size, most)


def _lock_key(name: str) -> int:
    """An advisory lock key: 64 bits of the name's hash, signed as PostgreSQL's bigint.

    Advisory locks are per database, so names are qualified by the schema: deployments in
    different schemas of one database never wait for each other. Scope locks are named
    ``schema/scope`` and the outbox lock ``schema:outbox``: a schema holds neither separator,
    so no scope key can name the outbox lock.
    """
    return int.from_bytes(hashlib.sha1(name.encode(), usedforsecurity=False).digest()[:8], "big", signed=True)


class _Terms:
    """FTS5's tokenizer, run in an in-memory SQLite table: the SQLite store's terms, exactly."""

    def __init__(self) -> None:
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(":memory:")
            conn.execute(f"CREATE VIRTUAL TABLE doc USING fts5 (body, tokenize = '{FTS5_TOKENIZER}')")
            conn.execute("CREATE VIRTUAL TABLE doc_terms USING fts5vocab (doc, 'instance')")
            self._local.conn = conn
        return conn

    def counts(self, texts: Sequence[str]) -> list[Counter[str]]:
        """The term frequencies of each text."""
        conn = self._conn()
        with conn:
            conn.executemany("INSERT INTO doc (rowid, body) VALUES (?, ?)", enumerate(texts))
            rows = conn.execute("SELECT doc, term FROM doc_terms").fetchall()
            conn.execute("DELETE FROM doc")
        found: list[Counter[str]] = [Counter() for _ in texts]
        for doc, term in rows:
            found[doc][term] += 1
        return found


_TERMS = _Terms()


@lru_cache(maxsize=4096)
def _indexed_terms(word: str) -> tuple[str, ...]:
    """The index terms of one query word (its porter stem)."""
    return tuple(_TERMS.counts([word])[0])


@lru_cache(maxsize=256)
def _token_columns_length(kind: str) -> int:
    """Tokens of the SQLite row's partition and kind columns: FTS5's BM25 counts them in a document's length."""
    return sum(_TERMS.counts([f"{partition_token('', kind)} k{kind}"])[0].values())


def _document_length(unit: Unit, counts: Counter[str]) -> int:
    """The length FTS5 gives a unit's row (every column's tokens, not only the body's)."""
    return sum(counts.values()) + _token_columns_length(unit.kind)


@dataclass
class _Transaction:
    """The calling thread's open transaction."""

    conn: psycopg.Connection[Any] | None = None
    depth: int = 0
    locked: set[str] = field(default_factory=set)
    drained: list[int] = field(default_factory=list)
    """Outbox rows :meth:`PostgresRecordStore.pending_vectors` read (the only ones cleared)."""


class PostgresRecordStore:
    """The server :class:`~evermem_integrations.engine.protocols.RecordStore` on PostgreSQL (psycopg 3, pooled).

    Raises:
        StoreUnavailableError: PostgreSQL cannot be reached (on open and on any later call).
        StoreVersionError: the database holds a layout newer than this version reads.
        StoreBusyError: a writer of the scope held its lock past ``lock_timeout_s``, or every pooled
            connection stayed in use past ``connect_timeout_s``.

    """

    def __init__(self, url: str, config: DatabaseConfig | None = None) -> None:
        try:
            info = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ConfigurationError(
                f"database_url must look like 'postgresql://user:pass@host:5432/db' ({exc})"
            ) from exc
        self.config = config or DatabaseConfig()
        schema = self.config.schema_name
        self._where = f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname') or ''}"
        self._outbox_lock = _lock_key(f"{schema}:outbox")
        self._local = threading.local()
        self._url = url
        self._pool_guard = threading.Lock()
        self._pool: ConnectionPool[Any] | None = None
        try:
            with self._translated(), self._connection() as conn, conn.transaction():
                self._create_or_migrate(conn)
        except BaseException:
            self.close()
            raise

    def _open_pool(self) -> ConnectionPool[Any]:
        with self._pool_guard:
            if self._pool is None:
                config = self.config
                options = f"-c search_path={config.schema_name} -c lock_timeout={int(config.lock_timeout_s * 1000)}"
                pool: ConnectionPool[Any] = ConnectionPool(
                    self._url,
                    min_size=1,
                    max_size=config.pool_size,
                    kwargs={
                        "autocommit": True,
                        "options": options,
                        "connect_timeout": max(1, round(config.connect_timeout_s)),
                    },
                    timeout=config.connect_timeout_s,
                    open=False,
                    name="evermem",
                )
                try:
                    pool.open(wait=True, timeout=config.connect_timeout_s)
                except BaseException:
                    pool.close(timeout=0)
                    raise
                self._pool = pool
            return self._pool

    @contextmanager
    def _connection(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection; a pool that timed out is dropped, unless every connection was busy.

        After an outage a pool's own reconnection backs off for minutes, while a new pool
        connects as soon as the server is back: the retry a user makes then works.
        """
        pool = self._open_pool()
        try:
            with pool.connection() as conn:
                yield conn
        except PoolTimeout as exc:
            stats = pool.get_stats()
            if stats.get("pool_size", 0) >= self.config.pool_size and not stats.get("pool_available", 0):
                raise StoreBusyError(
                    f"all {self.config.pool_size} PostgreSQL connections of this process were in use for "
                    f"{self.config.connect_timeout_s:g} s; nothing of this call was written. Retry, or raise "
                    "DatabaseConfig(pool_size=...) (EVERMEM_DATABASE_POOL_SIZE) within the server's max_connections"
                ) from exc
            with self._pool_guard:
                if self._pool is pool:
                    self._pool = None
            pool.close(timeout=0)
            raise

    def _create_or_migrate(self, conn: psycopg.Connection[Any]) -> None:
        # Processes opening a new database at once create it once: the others wait here.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {self.config.schema_name}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
        version = row[0] if row else None
        if version is None:
            for statement in _DDL:
                conn.execute(statement)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [SCHEMA_VERSION])
            return
        if version > SCHEMA_VERSION:
            raise StoreVersionError(
                f"the database {self._where} has layout version {version}, this version of "
                f"evermem-integrations reads up to {SCHEMA_VERSION}: upgrade evermem-integrations"
            )
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for migration in MIGRATIONS[step]:
                if isinstance(migration, str):
                    conn.execute(migration)
                else:
                    migration(conn)
            conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", [step])

    def close(self) -> None:
        """Close the pool's connections."""
        with self._pool_guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    # -- connections, transactions, locks ---------------------------------------------------------
    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Psycopg's errors as the package's: what to start or retry, and that nothing was written."""
        try:
            yield
        except (pg_errors.LockNotAvailable, pg_errors.DeadlockDetected) as exc:
            raise StoreBusyError(
                f"another writer of this scope held PostgreSQL's lock too long ({exc}); nothing was written, try again"
            ) from exc
        except (psycopg.OperationalError, psycopg.InterfaceError, PoolTimeout) as exc:
            raise StoreUnavailableError(
                f"cannot reach PostgreSQL at {self._where} ({str(exc).strip()}); start the server "
                "(e.g. `pg_ctl -D DATADIR start` or `systemctl start postgresql`) or fix database_url, "
                "then retry: nothing of this call was written"
            ) from exc
        except psycopg.Error as exc:
            raise StoreUnavailableError(
                f"the record store failed ({str(exc).strip()}); nothing of this call was written"
            ) from exc

    def _state(self) -> _Transaction:
        state: _Transaction | None = getattr(self._local, "state", None)
        if state is None:
            state = self._local.state = _Transaction()
        return state

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A write transaction of this thread (nested use joins the outer one)."""
        state = self._state()
        if state.conn is not None:
            state.depth += 1
            try:
                yield state.conn
            finally:
                state.depth -= 1
            return
        with self._translated(), self._connection_for("BEGIN") as conn:
            state.conn, state.depth = conn, 1
            try:
                yield conn
            except BaseException:
                if not conn.broken:
                    conn.execute("ROLLBACK")
                raise
            finally:
                self._local.state = _Transaction()
            conn.execute("COMMIT")

    @contextmanager
    def _connection_for(self, statement: str) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection that has run ``statement``, on a second one if the server dropped the first.

        A restarted server leaves dead connections in the pool; finding one costs a retry here,
        where checking every connection handed out would cost every call a round trip.
        """
        for attempt in (1, 2):
            with self._connection() as conn:
                try:
                    conn.execute(statement)
                except psycopg.OperationalError:
                    if attempt == 2 or not conn.broken:
                        raise
                else:
                    yield conn
                    return
            self._drop_dead_connections()

    def _drop_dead_connections(self) -> None:
        pool = self._pool
        if pool is not None:
            pool.check()

    @property
    def nested(self) -> bool:
        """Inside :meth:`transaction`: whether the caller's transaction joined an outer one."""
        return self._state().depth > 1

    def _lock(self, state: _Transaction, scope: str) -> None:
        """Queue behind the other writers of ``scope`` until this transaction ends."""
        if scope not in state.locked and state.conn is not None:
            state.conn.execute("SELECT pg_advisory_xact_lock(%s)", [_lock_key(f"{self.config.schema_name}/{scope}")])
            state.locked.add(scope)

    @contextmanager
    def _writing(self, *scopes: str) -> Iterator[psycopg.Connection[Any]]:
        with self.transaction() as conn, self._translated():
            state = self._state()
            for scope in sorted(set(scopes)):  # one order everywhere: no deadlock between two-scope writers
                self._lock(state, scope)
            yield conn

    def _rows(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] = (), *, scope: str | None = None
    ) -> list[tuple[Any, ...]]:
        """Rows of a read; inside a transaction it reads the transaction's writes (after the scope's lock)."""
        state = self._state()
        with self._translated():
            if state.conn is not None:
                if scope is not None:
                    self._lock(state, scope)
                return state.conn.execute(sql, params).fetchall()
            for attempt in (1, 2):  # a read is safe to repeat on a new connection (see _connection_for)
                with self._connection() as conn:
                    try:
                        return conn.execute(sql, params).fetchall()
                    except psycopg.OperationalError:
                        if attempt == 2 or not conn.broken:
                            raise
                self._drop_dead_connections()
            raise AssertionError("unreachable")

    # -- messages and the buffer ---------------------------------------------------------
    def known_message_keys(self, scope: str, messages: Sequence[Message]) -> set[str]:
        """Ids and content keys of ``messages`` already stored in ``scope``."""
        if not messages:
            return set()
        rows = self._rows(
            "SELECT id, content_key FROM messages WHERE scope = %s AND (id = ANY(%s) OR content_key = ANY(%s))",
            [scope, [m.id for m in messages], [m.content_key for m in messages]],
            scope=scope,
        )
        return {key for row in rows for key in row}

    def insert_messages(self, scope: str, messages: Iterable[Message]) -> None:
        """Append messages to the scope's buffer."""
        rows = [(m.id, scope, m.content_key, m.timestamp.timestamp(), record_json(m)) for m in messages]
        with self._writing(scope) as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO messages (id, scope, content_key, ts, cell_id, data) VALUES (%s, %s, %s, %s, NULL, %s) "
                "ON CONFLICT DO NOTHING",
                rows,
            )

    def buffered_messages(self, scope: str) -> list[Message]:
        """Messages not yet cut into a MemCell, oldest first (by time, then arrival)."""
        rows = self._rows(
            "SELECT data FROM messages WHERE scope = %s AND cell_id IS NULL ORDER BY ts, seq", [scope], scope=scope
        )
        return [Message.model_validate_json(r[0]) for r in rows]

    def count_buffered(self, scope: str) -> int:
        """Messages waiting in the scope's buffer."""
        return int(
            self._rows("SELECT count(*) FROM messages WHERE scope = %s AND cell_id IS NULL", [scope], scope=scope)[0][0]
        )

    def all_messages(self, scope: str) -> list[Message]:
        """Every stored message of a scope in order (for export)."""
        rows = self._rows("SELECT data FROM messages WHERE scope = %s ORDER BY ts, seq", [scope], scope=scope)
        return [Message.model_validate_json(r[0]) for r in rows]

    def buffered_ids(self, scope: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are messages of ``scope`` still in its buffer (not yet in a MemCell)."""
        rows = self._rows(
            "SELECT id FROM messages WHERE scope = %s AND id = ANY(%s) AND cell_id IS NULL",
            [scope, list(ids)],
            scope=scope,
        )
        return {r[0] for r in rows}

    def message_cell(self, scope: str, message_id: str) -> str | None:
        """The MemCell a stored message was cut into (``None`` while it is buffered)."""
        rows = self._rows("SELECT cell_id FROM messages WHERE scope = %s AND id = %s", [scope, message_id], scope=scope)
        return rows[0][0] if rows else None

    def delete_messages(self, scope: str, ids: Sequence[str]) -> None:
        """Delete stored messages by id (callers handle what was drawn from them)."""
        with self._writing(scope) as conn:
            conn.execute("DELETE FROM messages WHERE scope = %s AND id = ANY(%s)", [scope, list(ids)])

    # -- the vector outbox ----------------------------------------------------------------------
    def queue_vectors(self, scope: str, upserts: Sequence[tuple[str, str, np.ndarray]], deletes: Sequence[str]) -> None:
        """Record vector upserts ``(unit id, kind, vector)`` and deletes in the current transaction."""
        rows = [(scope, unit_id, "", None) for unit_id in deletes] + [
            (scope, unit_id, kind, np.asarray(v, dtype=np.float32).tobytes()) for unit_id, kind, v in upserts
        ]
        if not rows:
            return
        with self._writing(scope) as conn, conn.cursor() as cur:
            cur.executemany("INSERT INTO vector_outbox (scope, unit_id, kind, vector) VALUES (%s, %s, %s, %s)", rows)

    def has_pending_vectors(self) -> bool:
        """Whether any vector change waits in the outbox (a read, no lock)."""
        return bool(self._rows("SELECT 1 FROM vector_outbox UNION ALL SELECT 1 FROM vector_refresh LIMIT 1"))

    def pending_vectors(self) -> list[PendingVector]:
        """Queued vector changes, the last one per unit, oldest first.

        In a transaction it first waits for any other process's drain to end, so one drain
        runs at a time and applies the changes in commit order.
        """
        state = self._state()
        if state.conn is not None:
            self._rows("SELECT pg_advisory_xact_lock(%s)", [self._outbox_lock])
        rows = self._rows("SELECT seq, scope, unit_id, kind, vector FROM vector_outbox ORDER BY seq")
        state.drained = [row[0] for row in rows]
        return records.latest_vector_changes(rows)

    def clear_vectors(self, up_to_seq: int) -> None:
        """Forget the queued vector changes :meth:`pending_vectors` read, once the vector index holds them."""
        with self.transaction() as conn:
            conn.execute(
                "DELETE FROM vector_outbox WHERE seq = ANY(%s) AND seq <= %s", [self._state().drained, up_to_seq]
            )

    # -- the vectors of small scopes ----------------------------------------------------------
    # Written only by the outbox's drain and by delete_scope, which both hold the outbox lock:
    # taking a scope's lock here too, after the outbox lock, would invert delete_scope's order.
    def put_exact_vectors(
        self, scope: str, ids: Sequence[str], kinds: Sequence[str], vectors: np.ndarray
    ) -> records.ExactWrite:
        """Store (or replace) vectors of a scope searched exactly."""
        rows = [(scope, i, k, b) for i, k, b in zip(ids, kinds, records.exact_vector_blobs(vectors), strict=True)]
        with self._writing() as conn:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO exact_vectors (scope, id, kind, vector) VALUES (%s, %s, %s, %s) "
                    "ON CONFLICT (scope, id) DO UPDATE SET kind = EXCLUDED.kind, vector = EXCLUDED.vector",
                    rows,
                )
            return self._new_exact_version(conn, scope)

    def delete_exact_vectors(self, scope: str, ids: Sequence[str] | None) -> records.ExactWrite:
        """Remove vectors of a scope searched exactly (``None``: all of them)."""
        with self._writing() as conn:
            if ids is None:  # nothing held, no version
                conn.execute("DELETE FROM exact_vectors WHERE scope = %s", [scope])
                conn.execute("DELETE FROM exact_versions WHERE scope = %s", [scope])
                return records.ExactWrite(None, None, 0)
            conn.execute("DELETE FROM exact_vectors WHERE scope = %s AND id = ANY(%s)", [scope, list(ids)])
            return self._new_exact_version(conn, scope)

    @staticmethod
    def _new_exact_version(conn: psycopg.Connection[Any], scope: str) -> records.ExactWrite:
        """Draw the scope's next version, and count what it holds."""
        found = conn.execute("SELECT version FROM exact_versions WHERE scope = %s FOR UPDATE", [scope]).fetchone()
        after = records.new_scope_version()
        conn.execute(
            "INSERT INTO exact_versions (scope, version) VALUES (%s, %s) "
            "ON CONFLICT (scope) DO UPDATE SET version = EXCLUDED.version",
            [scope, after],
        )
        held = conn.execute("SELECT count(*) FROM exact_vectors WHERE scope = %s", [scope]).fetchone()
        return records.ExactWrite(None if found is None else int(found[0]), after, int(held[0]) if held else 0)

    def exact_version(self, scope: str) -> int | None:
        """A token that changes with every change of the scope's exact vectors (``None``: it holds none)."""
        rows = self._rows("SELECT version FROM exact_versions WHERE scope = %s", [scope])
        return int(rows[0][0]) if rows else None

    def exact_vectors(self, scope: str) -> records.ExactVectors:
        """Every vector a scope searched exactly holds, by id."""
        rows = self._rows(
            "SELECT e.id, e.kind, u.cell_id, u.data::jsonb ->> 'subject', u.data::jsonb ->> 'role', e.vector "
            "FROM exact_vectors AS e JOIN units AS u ON u.scope = e.scope AND u.id = e.id "
            'WHERE e.scope = %s ORDER BY e.id COLLATE "C"',
            [scope],
        )
        return records.ExactVectors(
            [r[0] for r in rows],
            [r[1] for r in rows],
            [UnitKeys(r[2], r[3], r[4]) for r in rows],
            records.exact_matrix([bytes(r[5]) for r in rows]),
        )

    def indexed_scope(self, scope: str) -> bool:
        """Whether the scope's vectors are in the vector index (else here, searched exactly)."""
        return bool(self._rows("SELECT 1 FROM indexed_scopes WHERE scope = %s", [scope]))

    def mark_indexed(self, scope: str) -> None:
        """Record that the scope's vectors moved to the vector index, and drop them here."""
        with self._writing() as conn:
            conn.execute("INSERT INTO indexed_scopes (scope) VALUES (%s) ON CONFLICT DO NOTHING", [scope])
            conn.execute("DELETE FROM exact_vectors WHERE scope = %s", [scope])
            conn.execute("DELETE FROM exact_versions WHERE scope = %s", [scope])

    def vector_metadata(self, scope: str, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """``(kind, Chroma metadata)`` of stored units by id: what filters pushed down to Chroma read."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        for unit_id, kind, ts, cell_id, subject, meta in self._rows(
            "SELECT id, kind, ts, cell_id, data::jsonb ->> 'subject', meta FROM units "
            "WHERE scope = %s AND id = ANY(%s)",
            [scope, list(ids)],
        ):
            found[unit_id] = (kind, chroma_metadata(kind, _moment(ts), subject, cell_id, orjson.loads(meta)))
        return found

    def pending_refresh(self, limit: int = 5_000) -> list[tuple[int, str, str]]:
        """``(seq, scope, unit id)`` of vectors whose metadata is to be rewritten, oldest first."""
        rows = self._rows("SELECT seq, scope, unit_id FROM vector_refresh ORDER BY seq LIMIT %s", [limit])
        return [(seq, scope, unit_id) for seq, scope, unit_id in rows]

    def clear_refresh(self, up_to_seq: int) -> None:
        """Forget metadata refreshes the vector index has applied."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM vector_refresh WHERE seq <= %s", [up_to_seq])

    # -- MemCells, facts, foresight ----------------------------------------------------------
    def save_cell(self, cell: MemCell, units: Sequence[Unit], stale_unit_ids: Sequence[str]) -> None:
        """Store a MemCell with its facts and foresight, mark its messages, swap its units in."""
        scope = cell.scope
        with self._writing(scope) as conn, conn.cursor() as cur:
            # Messages, facts and foresight are stored once, in their tables (see the SQLite store).
            stored = cell.model_copy(update={"facts": [], "foresight": [], "messages": []})
            cur.execute(
                "INSERT INTO cells (id, scope, start_ts, end_ts, scene_id, data) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (scope, id) DO UPDATE SET start_ts = EXCLUDED.start_ts, end_ts = EXCLUDED.end_ts, "
                "scene_id = EXCLUDED.scene_id, data = EXCLUDED.data",
                [cell.id, scope, _ts(cell.start_time), _ts(cell.end_time), cell.scene_id, record_json(stored)],
            )
            self._save_facts(cur, scope, cell.facts)
            cur.executemany(
                "INSERT INTO foresight (id, scope, cell_id, start_ts, end_ts, data) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (scope, id) DO UPDATE SET cell_id = EXCLUDED.cell_id, start_ts = EXCLUDED.start_ts, "
                "end_ts = EXCLUDED.end_ts, data = EXCLUDED.data",
                [(f.id, scope, f.cell_id, _ts(f.start), _ts(f.end), record_json(f)) for f in cell.foresight],
            )
            cur.execute(
                "UPDATE messages SET cell_id = %s WHERE scope = %s AND id = ANY(%s)",
                [cell.id, scope, [m.id for m in cell.messages]],
            )
            self.remove_units(scope, stale_unit_ids)
            self.put_units(units)

    @staticmethod
    def _save_facts(cur: psycopg.Cursor[Any], scope: str, facts: Sequence[Fact]) -> None:
        cur.executemany(
            "INSERT INTO facts (id, scope, cell_id, subject, attribute, ts, superseded_by, data) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (scope, id) DO UPDATE SET "
            "cell_id = EXCLUDED.cell_id, subject = EXCLUDED.subject, attribute = EXCLUDED.attribute, "
            "ts = EXCLUDED.ts, superseded_by = EXCLUDED.superseded_by, data = EXCLUDED.data",
            [
                (f.id, scope, f.cell_id, f.subject, f.attribute, _ts(f.timestamp), f.superseded_by, record_json(f))
                for f in facts
            ],
        )
        cur.executemany(
            "INSERT INTO subjects (scope, subject) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            sorted({(scope, f.subject) for f in facts}),
        )

    def update_facts(self, scope: str, facts: Sequence[Fact]) -> None:
        """Rewrite facts (supersession) and the data their units carry (see the SQLite store)."""
        with self._writing(scope) as conn, conn.cursor() as cur:
            self._save_facts(cur, scope, facts)
            cur.executemany(
                "UPDATE units SET data = (data::jsonb || jsonb_build_object('superseded_by', %s::text, "
                "'valid_until', %s::text))::text WHERE scope = %s AND id = %s",
                [(*supersession_of(f), scope, f.id) for f in facts],
            )
            said_in = list({f.source_message_ids[0] for f in facts if len(f.source_message_ids) == 1})
            if not said_in:
                return
            outdated: dict[str, tuple[str, str | None]] = {}
            for message_id, superseded_by, valid_until in cur.execute(
                "SELECT message_id, data::jsonb ->> 'superseded_by', data::jsonb ->> 'valid_until' FROM units "
                "WHERE scope = %s AND message_id = ANY(%s) AND kind = 'fact' ORDER BY seq",
                [scope, said_in],
            ).fetchall():
                if superseded_by and message_id not in outdated:
                    outdated[message_id] = (superseded_by, valid_until)
            updates = []
            for unit_id, message_id, data in cur.execute(
                "SELECT id, message_id, data FROM units WHERE scope = %s AND message_id = ANY(%s) AND kind = 'message'",
                [scope, said_in],
            ).fetchall():
                record = json.loads(data)
                record.pop("superseded_by", None)
                record.pop("valid_until", None)
                old = outdated.get(message_id)
                if old is not None:
                    record["superseded_by"], record["valid_until"] = old
                updates.append((json.dumps(record, default=str), scope, unit_id))
            cur.executemany("UPDATE units SET data = %s WHERE scope = %s AND id = %s", updates)

    def existing_fact_ids(self, scope: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored facts."""
        if not ids:
            return set()
        rows = self._rows("SELECT id FROM facts WHERE scope = %s AND id = ANY(%s)", [scope, list(ids)], scope=scope)
        return {r[0] for r in rows}

    def facts(self, scope: str) -> list[Fact]:
        """Facts of a scope in time order."""
        rows = self._rows("SELECT data FROM facts WHERE scope = %s ORDER BY ts", [scope], scope=scope)
        return [Fact.model_validate_json(r[0]) for r in rows]

    def current_keyed_facts(self, scope: str, subject: str, attribute: str) -> list[Fact]:
        """Facts about ``subject``'s ``attribute`` that nothing has superseded yet."""
        rows = self._rows(
            "SELECT data FROM facts WHERE scope = %s AND subject = %s AND attribute = %s AND superseded_by IS NULL",
            [scope, subject, attribute],
            scope=scope,
        )
        return [Fact.model_validate_json(r[0]) for r in rows]

    def facts_superseded_by(self, scope: str, fact_ids: Sequence[str]) -> list[Fact]:
        """Facts that one of ``fact_ids`` superseded."""
        rows = self._rows(
            "SELECT data FROM facts WHERE scope = %s AND superseded_by = ANY(%s)", [scope, list(fact_ids)], scope=scope
        )
        return [Fact.model_validate_json(r[0]) for r in rows]

    def subjects(self, scope: str) -> list[str]:
        """Everyone facts have been recorded about in a scope."""
        rows = self._rows("SELECT subject FROM subjects WHERE scope = %s ORDER BY subject", [scope], scope=scope)
        return [r[0] for r in rows]

    def cells(self, scope: str, ids: Sequence[str] | None = None) -> list[MemCell]:
        """MemCells of a scope in time order, messages, facts and foresight attached."""
        if ids is None:
            rows = self._rows("SELECT data FROM cells WHERE scope = %s ORDER BY start_ts", [scope], scope=scope)
        elif not ids:
            return []
        else:
            rows = self._rows(
                "SELECT data FROM cells WHERE scope = %s AND id = ANY(%s) ORDER BY start_ts",
                [scope, list(ids)],
                scope=scope,
            )
        cells = [MemCell.model_validate_json(r[0]) for r in rows]
        if not cells:
            return cells
        by_id = {c.id: c for c in cells}
        for cell in cells:
            cell.messages.clear()  # a record written by an earlier release holds copies
        for cell_id, data in self._rows(
            "SELECT cell_id, data FROM messages WHERE scope = %s AND cell_id = ANY(%s) ORDER BY ts, seq",
            [scope, list(by_id)],
        ):
            by_id[cell_id].messages.append(Message.model_validate_json(data))
        for (data,) in self._rows(
            "SELECT data FROM facts WHERE scope = %s AND cell_id = ANY(%s) ORDER BY ts", [scope, list(by_id)]
        ):
            fact = Fact.model_validate_json(data)
            by_id[fact.cell_id].facts.append(fact)
        for (data,) in self._rows(
            "SELECT data FROM foresight WHERE scope = %s AND cell_id = ANY(%s) ORDER BY start_ts", [scope, list(by_id)]
        ):
            item = Foresight.model_validate_json(data)
            by_id[item.cell_id].foresight.append(item)
        return cells

    def set_cell_scene(self, scope: str, cell_id: str, scene_id: str) -> None:
        """Record which scene a MemCell joined."""
        with self._writing(scope) as conn:
            row = conn.execute("SELECT data FROM cells WHERE scope = %s AND id = %s", [scope, cell_id]).fetchone()
            assert row is not None, f"no MemCell {cell_id} in {scope}"
            cell = MemCell.model_validate_json(row[0]).model_copy(update={"scene_id": scene_id})
            conn.execute(
                "UPDATE cells SET scene_id = %s, data = %s WHERE scope = %s AND id = %s",
                [scene_id, cell.model_dump_json(), scope, cell_id],
            )
            conn.execute(
                "UPDATE units SET data = jsonb_set(data::jsonb, '{scene_id}', to_jsonb(%s::text))::text "
                "WHERE scope = %s AND cell_id = %s",
                [scene_id, scope, cell_id],
            )

    def foresight(self, scope: str) -> list[Foresight]:
        """All foresight of a scope, by start."""
        rows = self._rows("SELECT data FROM foresight WHERE scope = %s ORDER BY start_ts", [scope], scope=scope)
        return [Foresight.model_validate_json(r[0]) for r in rows]

    def detach_cell(self, scope: str, cell_id: str) -> list[str]:
        """Delete a MemCell with its facts and foresight; its messages go back to the buffer.

        The MemCell leaves its scene (a scene left empty is deleted). Returns the ids of the
        scenes that lost it and still exist.
        """
        with self._writing(scope) as conn:
            for table in ("facts", "foresight"):
                conn.execute(f"DELETE FROM {table} WHERE scope = %s AND cell_id = %s", [scope, cell_id])
            conn.execute("UPDATE messages SET cell_id = NULL WHERE scope = %s AND cell_id = %s", [scope, cell_id])
            conn.execute("DELETE FROM cells WHERE scope = %s AND id = %s", [scope, cell_id])
            kept, emptied = records.scenes_without(self.scenes(scope), cell_id)
            for scene, centroid in kept:
                self.save_scene(scene, centroid)
            conn.execute("DELETE FROM scenes WHERE scope = %s AND id = ANY(%s)", [scope, emptied])
        return [scene.id for scene, _ in kept]

    def delete_cell(self, scope: str, cell: MemCell) -> None:
        """Delete a MemCell with its facts, foresight and source messages; leave its scene."""
        with self._writing(scope) as conn:
            conn.execute("DELETE FROM messages WHERE scope = %s AND cell_id = %s", [scope, cell.id])
            self.detach_cell(scope, cell.id)

    # -- scenes ---------------------------------------------------------------------------------
    def scenes(self, scope: str) -> list[tuple[MemScene, np.ndarray]]:
        """Scenes of a scope with their centroids, most recently active first."""
        rows = self._rows(
            "SELECT data, centroid FROM scenes WHERE scope = %s ORDER BY last_ts DESC", [scope], scope=scope
        )
        return [(MemScene.model_validate_json(data), np.frombuffer(blob, dtype=np.float32)) for data, blob in rows]

    def scene_centroids(self, scope: str, active_since: datetime) -> tuple[list[str], np.ndarray]:
        """Ids and centroids (one row each) of scenes active since ``active_since``, latest first."""
        rows = self._rows(
            "SELECT id, centroid FROM scenes WHERE scope = %s AND last_ts >= %s ORDER BY last_ts DESC",
            [scope, active_since.timestamp()],
            scope=scope,
        )
        centroids = np.array([np.frombuffer(blob, dtype=np.float32) for _, blob in rows], dtype=np.float32)
        return [r[0] for r in rows], centroids

    def scene(self, scope: str, scene_id: str) -> MemScene:
        """One scene by id."""
        rows = self._rows("SELECT data FROM scenes WHERE scope = %s AND id = %s", [scope, scene_id], scope=scope)
        return MemScene.model_validate_json(rows[0][0])

    def save_scene(self, scene: MemScene, centroid: np.ndarray) -> None:
        """Insert or replace a scene and its centroid."""
        with self._writing(scene.scope) as conn:
            conn.execute(
                "INSERT INTO scenes (id, scope, last_ts, size, centroid, data) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (scope, id) DO UPDATE SET last_ts = EXCLUDED.last_ts, size = EXCLUDED.size, "
                "centroid = EXCLUDED.centroid, data = EXCLUDED.data",
                [
                    scene.id,
                    scene.scope,
                    _ts(scene.end_time),
                    len(scene.cell_ids),
                    np.asarray(centroid, dtype=np.float32).tobytes(),
                    scene.model_dump_json(),
                ],
            )

    def clear_scene(self, scope: str, scene_id: str) -> None:
        """Detach MemCells from a deleted scene."""
        with self._writing(scope) as conn:
            for cell_id, data in conn.execute(
                "SELECT id, data FROM cells WHERE scope = %s AND scene_id = %s", [scope, scene_id]
            ).fetchall():
                cell = MemCell.model_validate_json(data).model_copy(update={"scene_id": None})
                conn.execute(
                    "UPDATE cells SET scene_id = NULL, data = %s WHERE scope = %s AND id = %s",
                    [cell.model_dump_json(), scope, cell_id],
                )
            conn.execute(
                "UPDATE units SET data = (data::jsonb - 'scene_id')::text "
                "WHERE scope = %s AND data::jsonb ->> 'scene_id' = %s",
                [scope, scene_id],
            )

    # -- profile and conversation meta -----------------------------------------------------------
    def profile_items(self, scope: str, subject: str | None = None, *, current_only: bool = False) -> list[ProfileItem]:
        """Profile entries of a scope (optionally of one subject, or only current ones)."""
        sql, params = "SELECT data FROM profile WHERE scope = %s", [scope]
        if subject is not None:
            sql += " AND subject = %s"
            params.append(subject)
        if current_only:
            sql += " AND status = 'current'"
        return [
            ProfileItem.model_validate_json(r[0])
            for r in self._rows(sql + " ORDER BY subject, attribute, status, id", params, scope=scope)
        ]

    def save_profile_items(self, items: Sequence[ProfileItem]) -> None:
        """Insert or replace profile entries."""
        if not items:
            return
        with self._writing(*(p.scope for p in items)) as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO profile (id, scope, subject, attribute, status, data) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (scope, id) DO UPDATE SET subject = EXCLUDED.subject, attribute = EXCLUDED.attribute, "
                "status = EXCLUDED.status, data = EXCLUDED.data",
                [(p.id, p.scope, p.subject, p.attribute, p.status, record_json(p)) for p in items],
            )

    def delete_profile_items(self, scope: str, ids: Sequence[str]) -> None:
        """Remove profile entries (compaction, explicit deletes)."""
        with self._writing(scope) as conn:
            conn.execute("DELETE FROM profile WHERE scope = %s AND id = ANY(%s)", [scope, list(ids)])

    def rewrite_profile_items(self, items: Sequence[ProfileItem]) -> None:
        """Replace profile entries and the data their units carry (evidence trimmed by a delete)."""
        if not items:
            return
        scope = items[0].scope
        with self._writing(scope) as conn, conn.cursor() as cur:
            self.save_profile_items(items)
            metas = self._metadata_of_sources(cur, scope, [p.evidence for p in items])
            cur.executemany(
                "UPDATE units SET data = %s, meta = %s WHERE scope = %s AND id = %s",
                [
                    (orjson.dumps(unit_record(p)).decode(), orjson.dumps(meta).decode(), p.scope, p.id)
                    for p, meta in zip(items, metas, strict=True)
                ],
            )

    def meta(self, scope: str) -> ConversationMeta | None:
        """The scope's conversation metadata, if set."""
        rows = self._rows("SELECT data FROM meta WHERE scope = %s", [scope], scope=scope)
        return ConversationMeta.model_validate_json(rows[0][0]) if rows else None

    def save_meta(self, scope: str, meta: ConversationMeta) -> None:
        """Set the scope's conversation metadata."""
        with self._writing(scope) as conn:
            conn.execute(
                "INSERT INTO meta (scope, data) VALUES (%s, %s) ON CONFLICT (scope) DO UPDATE SET data = EXCLUDED.data",
                [scope, meta.model_dump_json()],
            )

    # -- units and the lexical index ----------------------------------------------------------------
    @staticmethod
    def _metadata_of_sources(
        cur: psycopg.Cursor[Any], scope: str, sources: Sequence[Sequence[str]]
    ) -> list[MetadataValues]:
        """For each list of source message ids, the merged metadata of those messages."""
        wanted = sorted({i for ids in sources for i in ids})
        found: dict[str, dict[str, Any]] = {}
        if wanted:
            for message_id, meta in cur.execute(
                "SELECT id, data::jsonb -> 'metadata' FROM messages WHERE scope = %s AND id = ANY(%s)", [scope, wanted]
            ).fetchall():
                if meta:
                    found[message_id] = meta
        return [merge_metadata(found[i] for i in ids if i in found) for ids in sources]

    def put_units(self, units: Sequence[Unit]) -> None:
        """Insert or replace searchable units with their postings and the scope's BM25 statistics."""
        if not units:
            return
        # The last of several units with one id wins, as if they were written one by one.
        latest = list({(unit.scope, unit.id): unit for unit in units}.values())
        terms = _TERMS.counts([lexical_text(u.indexed_text) for u in latest])
        with self._writing(*(u.scope for u in latest)) as conn, conn.cursor() as cur:
            for scope, group in itertools.groupby(
                sorted(zip(latest, terms, strict=True), key=lambda pair: pair[0].scope), key=lambda pair: pair[0].scope
            ):
                batch = list(group)
                scoped = [unit for unit, _ in batch]
                self._drop_units(cur, scope, [u.id for u in scoped])
                # What a memory inherits from its messages is worked out here, once for every write path.
                metas = self._metadata_of_sources(cur, scope, [_sources(u.data) for u in scoped])
                with cur.copy(
                    "COPY units (scope, id, kind, cell_id, ts, text, message_id, data, meta, doc_len) FROM STDIN"
                ) as copy:
                    for (unit, counts), meta in zip(batch, metas, strict=True):
                        copy.write_row(
                            (
                                scope,
                                unit.id,
                                unit.kind,
                                unit.cell_id,
                                _ts(unit.timestamp),
                                unit.text,
                                _single_source(unit),
                                json.dumps(unit.data, default=str),
                                orjson.dumps(meta).decode(),
                                _document_length(unit, counts),
                            )
                        )
                with cur.copy("COPY postings (scope, term, unit_id, kind, tf, doc_len) FROM STDIN") as copy:
                    for unit, counts in batch:
                        length = _document_length(unit, counts)
                        for term, tf in counts.items():
                            copy.write_row((scope, term, unit.id, unit.kind, tf, length))
                cur.execute(
                    "INSERT INTO lexical_stats (scope, docs, total_len) VALUES (%s, %s, %s) ON CONFLICT (scope) "
                    "DO UPDATE SET docs = lexical_stats.docs + EXCLUDED.docs, "
                    "total_len = lexical_stats.total_len + EXCLUDED.total_len",
                    [scope, len(batch), sum(_document_length(unit, counts) for unit, counts in batch)],
                )

    @staticmethod
    def _drop_units(cur: psycopg.Cursor[Any], scope: str, ids: Sequence[str]) -> None:
        """Delete units with their postings and take them out of the scope's statistics."""
        if not ids:
            return
        cur.execute("DELETE FROM postings WHERE scope = %s AND unit_id = ANY(%s)", [scope, list(ids)])
        row = cur.execute(
            "WITH gone AS (DELETE FROM units WHERE scope = %s AND id = ANY(%s) RETURNING doc_len) "
            "SELECT count(*), coalesce(sum(doc_len), 0) FROM gone",
            [scope, list(ids)],
        ).fetchone()
        if row and row[0]:
            cur.execute(
                "UPDATE lexical_stats SET docs = docs - %s, total_len = total_len - %s WHERE scope = %s",
                [row[0], row[1], scope],
            )

    def remove_units(self, scope: str, ids: Sequence[str]) -> None:
        """Drop units (and their BM25 postings) by id."""
        with self._writing(scope) as conn, conn.cursor() as cur:
            self._drop_units(cur, scope, ids)

    def units(self, scope: str, ids: Sequence[str]) -> dict[str, Unit]:
        """Units by id (ids of other scopes are ignored: the tenant wall)."""
        found: dict[str, Unit] = {}
        for unit_id, kind, text, cell_id, ts, data, meta in self._rows(
            "SELECT id, kind, text, cell_id, ts, data, meta FROM units WHERE scope = %s AND id = ANY(%s)",
            [scope, list(ids)],
            scope=scope,
        ):
            found[unit_id] = Unit(
                unit_id, scope, kind, text, cell_id, _moment(ts), orjson.loads(data), metadata=orjson.loads(meta)
            )
        return found

    def unit_keys(self, scope: str, ids: Sequence[str]) -> dict[str, UnitKeys]:
        """The cell, subject and role of units by id, without parsing their records."""
        rows = self._rows(
            "SELECT id, cell_id, data::jsonb ->> 'subject', data::jsonb ->> 'role' FROM units "
            "WHERE scope = %s AND id = ANY(%s)",
            [scope, list(ids)],
            scope=scope,
        )
        return {unit_id: UnitKeys(cell_id, subject, role) for unit_id, cell_id, subject, role in rows}

    def unit_ids_of_cells(self, scope: str, cell_ids: Sequence[str], kinds: Sequence[str]) -> list[tuple[str, str]]:
        """``(unit id, cell id)`` of the units of the given MemCells, in time order."""
        if not cell_ids:
            return []
        rows = self._rows(
            "SELECT id, cell_id FROM units WHERE scope = %s AND cell_id = ANY(%s) AND kind = ANY(%s) "
            "ORDER BY ts NULLS FIRST, seq",
            [scope, list(cell_ids), list(kinds)],
            scope=scope,
        )
        return [(unit_id, cell_id) for unit_id, cell_id in rows]

    def unit_ids_of_messages(
        self, scope: str, message_ids: Sequence[str], kinds: Sequence[str]
    ) -> list[tuple[str, str]]:
        """``(unit id, message id)`` of the ``kinds`` units drawn from exactly one of the messages, in time order."""
        if not message_ids:
            return []
        rows = self._rows(
            "SELECT id, message_id FROM units WHERE scope = %s AND message_id = ANY(%s) AND kind = ANY(%s) "
            "ORDER BY ts NULLS FIRST, seq",
            [scope, list(message_ids), list(kinds)],
            scope=scope,
        )
        return [(unit_id, message_id) for unit_id, message_id in rows]

    def unit_ids_of_kind(self, scope: str, kind: str) -> set[str]:
        """Ids of a scope's units of one kind."""
        return {
            r[0] for r in self._rows("SELECT id FROM units WHERE scope = %s AND kind = %s", [scope, kind], scope=scope)
        }

    def lexical_terms(self, query: str, scope: str) -> list[str]:
        """The terms of ``query`` (as the SQLite store cuts them); :meth:`bm25` leaves out the common ones.

        The SQLite store drops common terms when its one index is large; here postings are
        partitioned by scope, so the work and the policy go by the size of the scope searched.
        """
        return query_terms(query)

    def _selective(self, scope: str, terms: Sequence[str]) -> list[str]:
        """``terms`` without those in more than one unit of twenty of a large scope (the rarest stays)."""
        stats = self._rows("SELECT docs FROM lexical_stats WHERE scope = %s", [scope], scope=scope)
        docs = int(stats[0][0]) if stats else 0
        if len(terms) < 2 or docs < LARGE_INDEX:
            return list(terms)
        stems = {t: list(_indexed_terms(t)) for t in terms}
        hits = dict(
            self._rows(
                "SELECT term, count(*) FROM postings WHERE scope = %s AND term = ANY(%s) GROUP BY term",
                [scope, sorted({s for group in stems.values() for s in group})],
                scope=scope,
            )
        )
        counts = {t: max((hits.get(s, 0) for s in stems[t]), default=0) for t in terms}
        present = [t for t in terms if counts[t]]
        kept = [t for t in present if counts[t] <= docs * COMMON_TERM_SHARE]
        return kept or sorted(present, key=counts.__getitem__)[:1]

    def bm25(
        self, scope: str, terms: Sequence[str], kinds: Sequence[str], limit: int, where: UnitFilter | None = None
    ) -> list[tuple[str, float]]:
        """Rank units of ``scope`` by Okapi BM25 (FTS5's formula) against :meth:`lexical_terms`.

        The statistics (documents, average length, document frequency) are the scope's own.
        ``where`` keeps only the units passing a filter (judged as the engine judges memories),
        walking the ranking until ``limit`` units pass.
        """
        # One row per query word, as FTS5 scores each phrase of "w1 OR w2": two words with one stem count twice.
        words = [term for word in self._selective(scope, terms) for term in _indexed_terms(word)]
        if not words or not kinds:
            return []
        ranking = (
            "WITH stats AS (SELECT docs::float8 AS n, total_len::float8 / greatest(docs, 1) AS avgdl "
            "FROM lexical_stats WHERE scope = %(scope)s), "
            "df AS (SELECT term, count(*)::float8 AS hits FROM postings "
            "WHERE scope = %(scope)s AND term = ANY(%(terms)s) GROUP BY term), "
            "idf AS (SELECT term, greatest(ln((stats.n - hits + 0.5) / (hits + 0.5)), 1e-6) AS w "
            "FROM unnest(%(words)s::text[]) AS q (term) JOIN df USING (term) CROSS JOIN stats) "
            "SELECT p.unit_id, sum(idf.w * p.tf * (%(k1)s + 1) / "
            "(p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.doc_len / stats.avgdl))) AS score "
            "FROM postings p JOIN idf USING (term) CROSS JOIN stats "
            "WHERE p.scope = %(scope)s AND p.term = ANY(%(terms)s) AND p.kind = ANY(%(kinds)s) "
            "GROUP BY p.unit_id ORDER BY score DESC, p.unit_id"
        )
        params: dict[str, Any] = {
            "scope": scope,
            "terms": sorted(set(words)),
            "words": words,
            "kinds": list(kinds),
            "k1": BM25_K1,
            "b": BM25_B,
            "limit": limit,
        }
        if where is None:
            return [(unit_id, float(score)) for unit_id, score in self._rows(ranking + " LIMIT %(limit)s", params)]
        ranked = [(unit_id, float(score)) for unit_id, score in self._rows(ranking, params)]
        return self.passing(scope, ranked, where, limit)

    def passing(
        self, scope: str, ranked: Sequence[tuple[str, float]], where: UnitFilter, limit: int
    ) -> list[tuple[str, float]]:
        """The first ``limit`` of a ranking whose units pass ``where``, judged as the engine judges memories."""
        passed: list[tuple[str, float]] = []
        for chunk in _doubling(ranked, max(limit, 100)):
            found = self.units(scope, [unit_id for unit_id, _ in chunk])
            passed += [(i, s) for i, s in chunk if i in found and matches(where, found[i].filter_target)]
            if len(passed) >= limit:
                break
        return passed[:limit]

    # -- scopes and deletion ------------------------------------------------------------------------
    def scopes(self) -> list[str]:
        """Every scope that holds anything."""
        rows = self._rows(
            "SELECT scope FROM messages UNION SELECT scope FROM cells UNION SELECT scope FROM profile "
            "UNION SELECT scope FROM meta UNION SELECT scope FROM units"
        )
        return sorted(r[0] for r in rows)

    def delete_scope(self, scope: str) -> None:
        """Remove everything stored for ``scope``, after any drain of the outbox in progress."""
        with self._writing(scope) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [self._outbox_lock])
            for table in (
                *_TABLES,
                "postings",
                "lexical_stats",
                "vector_outbox",
                "vector_refresh",
                "exact_vectors",
                "exact_versions",
                "indexed_scopes",
            ):
                conn.execute(f"DELETE FROM {table} WHERE scope = %s", [scope])

    def find_memory(self, memory_id: str, scope: str | None = None) -> tuple[str, str] | None:
        """``(table, scope)`` of the record with this id (in ``scope`` if given), if any."""
        where = "id = %s" + ("" if scope is None else " AND scope = %s")
        params = [memory_id] + ([] if scope is None else [scope])
        for table in _MEMORY_TABLES:
            rows = self._rows(f"SELECT scope FROM {table} WHERE {where} ORDER BY scope LIMIT 1", params)
            if rows:
                return table, rows[0][0]
        return None

    def delete_record(self, table: str, scope: str, memory_id: str) -> None:
        """Delete one record row (callers handle what hangs off it)."""
        if table not in _MEMORY_TABLES:
            raise ValueError(f"not a memory table: {table!r}")
        with self._writing(scope) as conn:
            conn.execute(f"DELETE FROM {table} WHERE scope = %s AND id = %s", [scope, memory_id])

    def count(self, table: str, scope: str) -> int:
        """Rows of ``table`` in ``scope``."""
        if table not in (*_TABLES, "postings", "vector_outbox", "vector_refresh"):
            raise ValueError(f"not a table of the store: {table!r}")
        return int(self._rows(f"SELECT count(*) FROM {table} WHERE scope = %s", [scope])[0][0])
