"""The record store: messages, MemCells, facts, foresight, scenes, profile, and the BM25 index.

One SQLite file (WAL mode) holds everything except vectors, so a MemCell and its lexical
entries commit in one transaction. A scope's key is stored once, in ``scopes``; every other
row names its scope by the number drawn there (see :data:`SCOPED_TABLES`), which each call
looks up afresh. BM25 is ranked at two sizes of scope:

- A small scope (under ``LEXICAL_TIER_UNITS`` units, nearly every tenant) is ranked from
  postings of its own held in memory (``engine/postings.py``), read from its units' text at its
  first search and then changed by this process's writes. Each write draws the scope a new
  ``lexical_versions`` entry, so a write by another process makes the next search read it again.
  The units are what it is read from: it has no on-disk index of its own.
- A large scope is ranked by tantivy (``engine/lexical.py``), from a folder beside the file,
  and its units also have FTS5 entries. Every write of such a scope logs the unit rows it
  touched (``lexical_log``) in its own transaction, and right after the commit a drain applies
  the log to tantivy under the write lock (one process at a time). A search uses tantivy only
  when the scope's log is empty; a scope a crash left behind is searched in FTS5 until the
  next drain. A scope's items and its episodes are each indexed in FTS5 under a hashed
  partition token, so a query is restricted to one tenant by the index itself; the kind has its
  own token for the rare query on some kinds only. The FTS5 table is contentless (an entry
  shares its unit's rowid, the text lives once, in the unit): to forget an entry it is told
  what it indexed, which the unit's ``text``, ``context`` and ``lexical`` columns give back
  exactly (see :func:`_lexical_entry`).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import logging
import os
import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import orjson
from pydantic import BaseModel

from evermem_integrations.engine.embeddings import normalize
from evermem_integrations.engine.filters import (
    MATCH_ALL,
    MetadataValues,
    Target,
    chroma_metadata,
    is_empty,
    merge_metadata,
    split_subjects,
    to_sql,
)
from evermem_integrations.engine.filters import Filter as UnitFilter
from evermem_integrations.engine.lexical import LEXICAL_TIER_UNITS, LexicalEntry, ScopeLexicon
from evermem_integrations.engine.models import (
    EPISODE_KINDS,
    KIND_GROUPS,
    ConversationMeta,
    Fact,
    Foresight,
    MemCell,
    MemScene,
    Message,
    ProfileItem,
    kind_group,
)
from evermem_integrations.engine.postings import PostingEntry, PostingsCache, ScopePostings
from evermem_integrations.engine.protocols import RecordStore as RecordStore  # the protocol, for old imports
from evermem_integrations.engine.text import has_cjk, lexical_text, query_terms
from evermem_integrations.errors import StoreBusyError, StoreUnavailableError, StoreVersionError

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 14
"""Stored as SQLite's ``user_version``; a store of another version is refused, not misread."""
MIGRATABLE_VERSIONS = (2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
"""Older layouts that opening migrates in place (version 3 added the vector outbox, version 4
the units' source metadata and the queue that writes it to the vectors' metadata, version 5
the vectors of small scopes, searched exactly, version 6 the units' subject and role as columns,
version 7 those vectors in one byte per dimension, version 8 a contentless lexical index,
version 9 the tantivy indexes of large scopes, with their log, version 10 one exact vector per
distinct indexed text of a scope, version 11 a version of each scope's lexical entries, which
tells when the BM25 postings held in memory must be read again, version 12 FTS5 entries for the
scopes of the tantivy tier only, version 13 scopes named by number, version 14 the text of a fact
or foresight in its unit alone, a message's id and a MemCell's id and scene in their columns alone,
a message's content key as a number)."""
MIGRATION_CHUNK = 5_000
"""Rows a migration reads at a time: a store of millions of units is not read into memory at once."""
BUSY_TIMEOUT_S = 60.0
"""How long a writer waits for another process's write transaction before giving up."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS scopes (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL, scope INTEGER NOT NULL, content_key INTEGER NOT NULL,
    ts REAL NOT NULL, cell_id TEXT, data TEXT NOT NULL,
    UNIQUE (scope, id)
);
CREATE INDEX IF NOT EXISTS messages_buffer ON messages (scope, cell_id, seq);
CREATE INDEX IF NOT EXISTS messages_content ON messages (scope, content_key);
CREATE TABLE IF NOT EXISTS cells (
    id TEXT PRIMARY KEY, scope INTEGER NOT NULL, start_ts REAL NOT NULL, end_ts REAL NOT NULL,
    scene_id TEXT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cells_scope ON cells (scope, start_ts);
CREATE TABLE IF NOT EXISTS facts (
    id TEXT PRIMARY KEY, scope INTEGER NOT NULL, cell_id TEXT NOT NULL, subject TEXT NOT NULL,
    attribute TEXT, ts REAL NOT NULL, superseded_by TEXT, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS facts_cell ON facts (scope, cell_id);
CREATE INDEX IF NOT EXISTS facts_key ON facts (scope, subject, attribute);
CREATE TABLE IF NOT EXISTS subjects (scope INTEGER NOT NULL, subject TEXT NOT NULL, PRIMARY KEY (scope, subject))
    WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS foresight (
    id TEXT PRIMARY KEY, scope INTEGER NOT NULL, cell_id TEXT NOT NULL,
    start_ts REAL NOT NULL, end_ts REAL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS foresight_scope ON foresight (scope, start_ts);
CREATE TABLE IF NOT EXISTS scenes (
    id TEXT PRIMARY KEY, scope INTEGER NOT NULL, last_ts REAL NOT NULL, size INTEGER NOT NULL,
    centroid BLOB NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scenes_scope ON scenes (scope, last_ts);
CREATE TABLE IF NOT EXISTS profile (
    id TEXT PRIMARY KEY, scope INTEGER NOT NULL, subject TEXT NOT NULL, attribute TEXT NOT NULL,
    status TEXT NOT NULL, data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS profile_key ON profile (scope, subject, attribute, status);
CREATE TABLE IF NOT EXISTS meta (scope INTEGER PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    id TEXT PRIMARY KEY, scope INTEGER NOT NULL, kind TEXT NOT NULL, cell_id TEXT,
    ts REAL, text TEXT NOT NULL, message_id TEXT, data TEXT NOT NULL, meta TEXT NOT NULL DEFAULT '{}',
    subject TEXT, role TEXT, context TEXT, lexical TEXT, vector_key INTEGER
);
CREATE INDEX IF NOT EXISTS units_scope ON units (scope, kind, vector_key);
CREATE INDEX IF NOT EXISTS units_cell ON units (scope, cell_id);
CREATE INDEX IF NOT EXISTS units_message ON units (scope, message_id, kind);
CREATE VIRTUAL TABLE IF NOT EXISTS units_fts USING fts5 (
    body, part_tok, kind_tok, content = '', tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE IF NOT EXISTS vector_outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, scope INTEGER NOT NULL, unit_id TEXT NOT NULL,
    kind TEXT NOT NULL, vector BLOB
);
CREATE TABLE IF NOT EXISTS vector_refresh (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, scope INTEGER NOT NULL, unit_id TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS exact_vectors (
    scope INTEGER NOT NULL, vector_key INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (scope, vector_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS indexed_scopes (scope INTEGER PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS exact_versions (scope INTEGER PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lexical_versions (scope INTEGER PRIMARY KEY, version INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lexical_scopes (
    scope INTEGER PRIMARY KEY, folder TEXT NOT NULL, applied INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lexical_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, scope INTEGER NOT NULL, row INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS lexical_log_scope ON lexical_log (scope);
"""
_SCHEMA_STATEMENTS = [statement.strip() for statement in _SCHEMA.split(";\n") if statement.strip()]
SCOPED_TABLES = (
    "messages",
    "cells",
    "facts",
    "subjects",
    "foresight",
    "scenes",
    "profile",
    "meta",
    "units",
    "vector_outbox",
    "vector_refresh",
    "exact_vectors",
    "indexed_scopes",
    "exact_versions",
    "lexical_versions",
    "lexical_scopes",
    "lexical_log",
)
"""The tables whose ``scope`` column holds a scope's number in ``scopes``, which alone holds its key.

About 23 rows and index entries of a stored message name its scope; a key such as
``user=3f2a...`` (a UUID) repeated in each took more bytes than the message's text. Numbers are
drawn in order, so a new tenant's entries go at the end of each index instead of splitting
pages across it.
"""


def _schema_statement(fragment: str) -> str:
    """The statement of today's layout that creates what ``fragment`` names (for migrations)."""
    return next(statement for statement in _SCHEMA_STATEMENTS if fragment in statement)


def _rebuild(
    conn: sqlite3.Connection, table: str, values: Mapping[str, str], joined: str = "", create: str | None = None
) -> None:
    """Copy ``table`` into today's layout (a migration), ``values`` computing some columns from the old row ``t``.

    ``create``: the table's ``CREATE`` statement to copy into instead (the tests build older
    layouts with it). Its indexes are built again. Only the units keep their rowids: FTS5, the
    lexical log and the tantivy indexes name units by rowid; other tables' rowids are theirs alone.
    """
    columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
    create = create or _schema_statement(f"TABLE IF NOT EXISTS {table} (")
    conn.execute(create.replace(f" {table} (", f" {table}_rebuilt (", 1))
    kept = ["rowid"] if table == "units" else []
    names = ", ".join([*kept, *columns])
    selected = ", ".join([*(f"t.{c}" for c in kept), *(values.get(c, f"t.{c}") for c in columns)])
    conn.execute(f"INSERT INTO {table}_rebuilt ({names}) SELECT {selected} FROM {table} AS t {joined}")
    conn.execute(f"DROP TABLE {table}")  # its indexes with it
    conn.execute(f"ALTER TABLE {table}_rebuilt RENAME TO {table}")
    for statement in _SCHEMA_STATEMENTS:
        if statement.startswith("CREATE INDEX") and f" ON {table} (" in statement:
            conn.execute(statement)


def partition_token(scope: str, kind: str) -> str:
    """The FTS5 token standing for a scope's episodes or its items (keys contain characters FTS5 splits on)."""
    digest = hashlib.sha1(scope.encode(), usedforsecurity=False).hexdigest()[:20]
    return f"s{digest}{'e' if kind in EPISODE_KINDS else 'i'}"


def _ts(moment: datetime | None) -> float | None:
    return None if moment is None else moment.timestamp()


@dataclass(slots=True)
class Unit:
    """A searchable memory: the thing both indexes point at.

    Not frozen: a search builds a few hundred, and a frozen dataclass sets each field through
    ``object.__setattr__`` (2.0 µs a unit against 0.5).
    """

    id: str
    scope: str
    kind: str
    text: str
    cell_id: str | None
    timestamp: datetime | None
    data: dict[str, Any]
    context: str = ""
    """Indexed with the text but never shown: e.g. the question a fact answers, so that a
    query worded like the question finds the answer ("Three times a week" answers "How often
    do you work out?")."""
    metadata: MetadataValues = field(default_factory=dict)
    """The source messages' metadata as filters see it (set by the store from the messages)."""

    @property
    def indexed_text(self) -> str:
        """What the lexical and vector indexes see."""
        return _indexed(self.text, self.context)

    @property
    def filter_target(self) -> Target:
        """What a metadata filter judges of this unit (the same on every backend)."""
        subject = self.data.get("subject") or self.data.get("sender")
        return Target(
            kind=self.kind,
            subjects=(subject,) if subject else (),
            timestamp=self.timestamp,
            metadata=self.metadata,
            scene_id=self.data.get("scene_id"),
            cell_id=self.cell_id,
        )


def record_json(record: BaseModel, columns: Sequence[str] = ()) -> str:
    """A record as its table's ``data`` holds it: without unset fields or what ``columns`` hold.

    Unset fields read back as their defaults, the columns' through :func:`from_row`. Each fact
    repeated its id, MemCell and subject, about 170 of the 4,000 bytes of a stored message with
    its foresight and profile entries.
    """
    return record.model_dump_json(exclude_none=True, exclude=set(columns))


FACT_COLUMNS = ("id", "cell_id", "subject")
FORESIGHT_COLUMNS = ("id", "cell_id")
PROFILE_COLUMNS = ("id", "scope", "subject", "attribute", "status")
CELL_COLUMNS = ("id", "scene_id")
"""The fields of a fact, foresight, profile entry or MemCell its table's columns hold: its ``data`` leaves them out."""
_CELL_PARTS = ("scope", "facts", "foresight", "messages")
"""What a MemCell's ``data`` leaves out besides its columns: its scope's key, the records stored apart."""
_PROFILE_READ = ", ".join((*(n for n in PROFILE_COLUMNS if n != "scope"), "data"))  # readers pass the scope's key


def _read_with_unit_text(table: str, columns: Sequence[str]) -> tuple[str, str]:
    """The select list and FROM clause that read a fact or foresight whole (its row is ``r``).

    Its text is stored once, in the unit that indexes it (see ``_text_held_by_units``); a row
    written before layout 14, or whose unit did not hold the same text, keeps its own.
    """
    select = ", ".join(
        (
            *(f"r.{name} AS {name}" for name in columns),
            "json_set(r.data, '$.text', coalesce(json_extract(r.data, '$.text'), u.text)) AS data",
        )
    )
    return select, f"{table} AS r LEFT JOIN units AS u ON u.id = r.id AND u.scope = r.scope"


(_FACT_READ, _FACTS), (_FORESIGHT_READ, _FORESIGHTS) = (
    _read_with_unit_text("facts", FACT_COLUMNS),
    _read_with_unit_text("foresight", FORESIGHT_COLUMNS),
)
_MESSAGE_DATA = "json_set(data, '$.id', id) AS data"
"""A message read whole: its ``data`` leaves out the id its column holds (see :func:`message_json`)."""


def content_number(content_key: str) -> int:
    """A message's content key as the ``messages`` table holds it: its first 64 bits, a third of the hex text."""
    return int.from_bytes(bytes.fromhex(content_key[:16]), "big", signed=True)


def message_json(message: Message) -> str:
    """A message as the ``messages`` table's ``data`` holds it: without its id (a column) or empty metadata."""
    left_out = {"id"} if message.metadata else {"id", "metadata"}
    return message.model_dump_json(exclude_none=True, exclude=left_out)


Record = TypeVar("Record", bound=BaseModel)


def from_row(model: type[Record], row: sqlite3.Row, columns: Sequence[str], **known: str) -> Record:
    """A record read back whole from its row and what the reader knows of it (``scope``: the key it read under).

    Rows written before held every field in ``data``.
    """
    values = orjson.loads(row["data"])
    values.update((column, row[column]) for column in columns if column not in known)
    values.update(known)
    return model.model_validate(values)


_HELD_BY_THE_UNIT = {"id", "scope", "cell_id", "text", "timestamp", "valid_from"}


def unit_record(record: Fact | Foresight | ProfileItem) -> dict[str, Any]:
    """What a unit carries of the record it indexes (``Unit.data``): the fields the unit does not hold itself.

    The record stays whole in its own table; readers take these fields with ``.get``, so unset
    ones are left out too.
    """
    return record.model_dump(mode="json", exclude=_HELD_BY_THE_UNIT, exclude_none=True)


class UnitKeys(NamedTuple):
    """What ranking needs of a unit without reading its record."""

    cell_id: str | None
    subject: str | None
    role: str | None
    """The role of the message a unit was drawn from (``assistant``, ``user``), if known."""


class ExactWrite(NamedTuple):
    """What a write of a scope's exact vectors changed: its version before and after, what it holds.

    A cache holding the scope at ``before`` may apply the write itself and hold it at ``after``;
    any other version means another write came between, and the cache reads the scope again.
    """

    before: int | None
    after: int | None
    """``None``: the scope holds no exact vectors any more."""
    held: int


class ExactVectors(NamedTuple):
    """A scope's exact vectors by id, with their units' keys (who each is about: what filters name most)."""

    ids: list[str]
    kinds: list[str]
    keys: list[UnitKeys]
    matrix: np.ndarray
    """Unit vectors, float32, one row per id."""


class PendingVector(NamedTuple):
    """A vector change committed in SQLite and not yet applied to the vector index."""

    seq: int
    scope: str
    unit_id: str
    kind: str
    vector: np.ndarray | None
    """``None`` for a delete."""


class SQLiteRecordStore:
    """The embedded :class:`RecordStore`: thread-safe access to the SQLite file; every write is one transaction."""

    def __init__(self, path: str | Path | None) -> None:
        target = ":memory:" if path is None else str(path)
        self._conn = sqlite3.connect(target, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_S)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._target = None if path is None else target
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._lexicon_root = None if path is None else Path(f"{target}.lexical")
        self._lexicons: dict[str, ScopeLexicon] = {}
        self._lexicons_lock = threading.Lock()
        self._lexical_pending = False
        """A write of this process logged lexical changes (or removed a scope's tantivy indexes)."""
        self._postings = PostingsCache()
        self._postings_read_lock = threading.Lock()
        try:
            if path is not None:
                self._enable_wal()
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._create_or_check(target)
        except BaseException:
            self._conn.close()
            raise
        if self._tuples("SELECT 1 FROM lexical_scopes LIMIT 1"):
            self.drain_lexical()  # what a crash left logged

    def _enable_wal(self) -> None:
        """Turn WAL on, retrying while another process holds the file's lock.

        Changing the journal mode needs an exclusive lock, and SQLite answers a conflict there with
        "database is locked" at once rather than through the busy timeout; processes that open a
        new store together meet it.
        """
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                self._conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _create_or_check(self, target: str) -> None:
        # One write transaction, so processes opening a new store at once create it once:
        # the others wait for the lock and then find the current layout.
        with self.transaction() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == SCHEMA_VERSION:
                return
            empty = conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is None
            if not empty and version not in MIGRATABLE_VERSIONS:
                raise StoreVersionError(
                    f"the store {target} has layout version {version}, this version of evermem-integrations "
                    f"reads {SCHEMA_VERSION}: export its scopes with the version that wrote it (`evermem export`), "
                    "then import them into a new store (`evermem import`)"
                )
            for statement in _SCHEMA_STATEMENTS:  # executescript would commit the transaction
                conn.execute(statement)
            if not empty and version < 4:
                self._add_unit_metadata(conn)
            if not empty and version < 5:  # the vectors written before live in Chroma
                conn.execute(
                    "INSERT OR IGNORE INTO indexed_scopes SELECT DISTINCT scope FROM units "
                    "UNION SELECT DISTINCT scope FROM vector_outbox"
                )
            if not empty and version < 6:
                self._add_unit_columns(conn)
            if not empty and version in (5, 6):
                self._quantize_exact_vectors(conn)
            if not empty and version < 8:
                self._drop_lexical_content(conn)
            if not empty and version < 10:
                self._share_exact_vectors(conn)
            if not empty and version < 11:  # every scope of units gets a version its postings are read at
                conn.execute(
                    "INSERT OR IGNORE INTO lexical_versions SELECT DISTINCT scope, random() & ? FROM units",
                    (VERSION_MASK,),
                )
            if not empty and version < 12:
                self._index_tiered_scopes_only(conn)
            if not empty and version < 13:
                self._intern_scopes(conn)
            if not empty and version < 14:
                self._store_columns_once(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _index_tiered_scopes_only(self, conn: sqlite3.Connection) -> None:
        """Migration to version 12: FTS5 holds the entries of the tantivy tier's scopes, no others.

        A small scope is ranked from its units' postings, so its entries were never read; they
        took about 270 bytes a message.
        """
        conn.execute("DROP TABLE units_fts")
        conn.execute(_schema_statement("units_fts"))
        for (scope,) in conn.execute("SELECT scope FROM lexical_scopes").fetchall():  # keys, before layout 13
            self._index_in_fts5(conn, scope, scope)

    @staticmethod
    def _intern_scopes(conn: sqlite3.Connection) -> None:
        """Migration to version 13: every table names a scope by its number in ``scopes`` (see :data:`SCOPED_TABLES`).

        Each table is copied whole into today's layout; the units keep their rowids, which FTS5,
        the lexical log and the tantivy indexes name them by. The key is then stored in ``scopes``
        alone: deleting a scope removes it.
        """
        for table in SCOPED_TABLES:
            conn.execute(f"INSERT OR IGNORE INTO scopes (key) SELECT DISTINCT scope FROM {table}")
        for table in SCOPED_TABLES:
            _rebuild(conn, table, {"scope": "s.id"}, "JOIN scopes AS s ON s.key = t.scope")
        for table in ("cells", "scenes"):  # their records named the scope too
            conn.execute(f"UPDATE {table} SET data = json_remove(data, '$.scope')")

    @staticmethod
    def _store_columns_once(conn: sqlite3.Connection) -> None:
        """Migration to version 14: records leave out what their columns, or their units, hold.

        A fact's or foresight's text when its unit holds the same; a message's id and empty
        metadata; a MemCell's id and scene, and the empty lists of the records stored apart.
        A message's content key becomes a number (:func:`content_number`).
        """
        conn.create_function("content_number", 1, content_number, deterministic=True)
        # Copied, not updated: the column's type changes, and a TEXT column would store the number as text.
        data = (
            "CASE json_extract(t.data, '$.metadata') WHEN '{}' "
            "THEN json_remove(t.data, '$.id', '$.metadata') ELSE json_remove(t.data, '$.id') END"
        )
        _rebuild(conn, "messages", {"content_key": "content_number(t.content_key)", "data": data})
        for table in ("facts", "foresight"):
            conn.execute(
                f"UPDATE {table} SET data = json_remove(data, '$.text') WHERE json_extract(data, '$.text') = "
                f"(SELECT u.text FROM units AS u WHERE u.id = {table}.id AND u.scope = {table}.scope)"
            )
        conn.execute(
            "UPDATE cells SET data = json_remove(data, '$.id', '$.scene_id', '$.facts', '$.foresight', '$.messages')"
        )

    def _add_unit_metadata(self, conn: sqlite3.Connection) -> None:
        """Migration to version 4: units get their source messages' metadata, vectors get theirs.

        Every vector is queued for a metadata refresh (applied to Chroma at the next write or
        open), so filters pushed down to Chroma see the memories written before.
        """
        columns = {row[1] for row in conn.execute("PRAGMA table_info(units)")}
        if "meta" not in columns:
            conn.execute("ALTER TABLE units ADD COLUMN meta TEXT NOT NULL DEFAULT '{}'")
        rows = conn.execute("SELECT id, scope, data FROM units").fetchall()
        for start in range(0, len(rows), 2_000):
            chunk = rows[start : start + 2_000]
            by_scope: dict[str, list[tuple[str, list[str]]]] = {}
            for unit_id, scope, data in chunk:
                by_scope.setdefault(scope, []).append((unit_id, _sources(orjson.loads(data))))
            updates = []
            for scope, units in by_scope.items():
                metas = self._metadata_of_sources(conn, scope, [sources for _, sources in units])
                updates += [
                    (orjson.dumps(meta).decode(), unit_id)
                    for (unit_id, _), meta in zip(units, metas, strict=True)
                    if meta
                ]
            conn.executemany("UPDATE units SET meta = ? WHERE id = ?", updates)
        conn.execute("INSERT INTO vector_refresh (scope, unit_id) SELECT scope, id FROM units")

    @staticmethod
    def _add_unit_columns(conn: sqlite3.Connection) -> None:
        """Migration to version 6: who a unit is about and the role it was said in, as columns.

        Filters, the asker lookups and the priors read them for thousands of units a search;
        ``json_extract`` parses the whole record (a long turn's included) for each.
        """
        columns = {row[1] for row in conn.execute("PRAGMA table_info(units)")}
        for column in ("subject", "role"):
            if column not in columns:
                conn.execute(f"ALTER TABLE units ADD COLUMN {column} TEXT")
        conn.execute("UPDATE units SET subject = json_extract(data, '$.subject'), role = json_extract(data, '$.role')")

    @staticmethod
    def _quantize_exact_vectors(conn: sqlite3.Connection) -> None:
        """Migration to version 7: the float32 vectors of small scopes as :func:`exact_vector_blobs` stores them."""
        rows = conn.execute("SELECT rowid, vector FROM exact_vectors").fetchall()
        updates = [(quantized_blob(blob), rowid) for rowid, blob in rows]
        conn.executemany("UPDATE exact_vectors SET vector = ? WHERE rowid = ?", updates)

    @staticmethod
    def _share_exact_vectors(conn: sqlite3.Connection) -> None:
        """Migration to version 10: units name their vector by :func:`vector_key`, a scope holds each once.

        The vectors were held by unit id; a vector whose unit is gone is dropped with the old table.
        A unit whose lexical body was segmented (CJK) kept no context, so its key is its own.
        """
        columns = {row[1] for row in conn.execute("PRAGMA table_info(units)")}
        if "vector_key" not in columns:
            conn.execute("ALTER TABLE units ADD COLUMN vector_key INTEGER")
        last = 0
        while rows := conn.execute(
            "SELECT rowid, id, text, context, lexical FROM units WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (last, MIGRATION_CHUNK),
        ).fetchall():
            last = rows[-1][0]
            conn.executemany(
                "UPDATE units SET vector_key = ? WHERE rowid = ?",
                [
                    (vector_key(_indexed(text, context) if lexical is None else f"\0{unit_id}"), rowid)
                    for rowid, unit_id, text, context, lexical in rows
                ],
            )
        conn.execute("DROP INDEX units_scope")
        conn.execute(_schema_statement("INDEX IF NOT EXISTS units_scope"))
        (table,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'exact_vectors'").fetchone()
        if "vector_key" in table:
            return
        conn.execute("ALTER TABLE exact_vectors RENAME TO exact_vectors_by_unit")
        conn.execute(_schema_statement("TABLE IF NOT EXISTS exact_vectors"))
        conn.execute(
            "INSERT OR REPLACE INTO exact_vectors (scope, vector_key, vector) SELECT e.scope, u.vector_key, e.vector "
            "FROM exact_vectors_by_unit AS e JOIN units AS u ON u.id = e.id AND u.scope = e.scope"
        )
        conn.execute("DROP TABLE exact_vectors_by_unit")

    @staticmethod
    def _drop_lexical_content(conn: sqlite3.Connection) -> None:
        """Migration to version 8: the FTS5 index keeps no copy of the texts (a third of a small store).

        What each entry indexed beyond its unit's text goes to the unit's ``context`` or
        ``lexical`` column, so the entry can be deleted later; entries of no unit are dropped.
        """
        columns = {row[1] for row in conn.execute("PRAGMA table_info(units)")}
        for column in ("context", "lexical"):
            if column not in columns:
                conn.execute(f"ALTER TABLE units ADD COLUMN {column} TEXT")
        (table,) = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'units_fts'").fetchone()
        if "content = ''" in table:
            return
        create = _schema_statement("units_fts")
        conn.execute(create.replace("units_fts", "units_fts_new", 1))
        last = 0
        while True:
            entries = conn.execute(
                "SELECT f.rowid, f.body, f.part_tok, f.kind_tok, u.text FROM units_fts f "
                "JOIN units u ON u.rowid = f.rowid WHERE f.rowid > ? ORDER BY f.rowid LIMIT ?",
                (last, MIGRATION_CHUNK),
            ).fetchall()
            if not entries:
                break
            last = entries[-1][0]
            updates = []
            for rowid, body, _, _, text in entries:
                if body == text:
                    continue
                if not has_cjk(body) and body.startswith(f"{text} "):
                    updates.append((body[len(text) + 1 :], None, rowid))
                else:
                    updates.append((None, body, rowid))
            conn.executemany("UPDATE units SET context = ?, lexical = ? WHERE rowid = ?", updates)
            conn.executemany(
                "INSERT INTO units_fts_new (rowid, body, part_tok, kind_tok) VALUES (?, ?, ?, ?)",
                [entry[:4] for entry in entries],
            )
        conn.execute("DROP TABLE units_fts")
        conn.execute("ALTER TABLE units_fts_new RENAME TO units_fts")

    @staticmethod
    def _metadata_of_sources(
        conn: sqlite3.Connection, column: int | str, sources: Sequence[Sequence[str]]
    ) -> list[MetadataValues]:
        """For each list of source message ids, the merged metadata of those messages.

        ``column`` is what the messages' ``scope`` column holds for the scope (its key before layout 13).

        Lists of the same ids share one (read-only) result: a message's facts and pieces are
        drawn from it alone, so a long turn's metadata is merged once, not once per fact.
        """
        wanted = sorted({i for ids in sources for i in ids})
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(wanted):
            marks = ",".join("?" * len(chunk))
            for message_id, meta in conn.execute(
                f"SELECT id, json_extract(data, '$.metadata') FROM messages WHERE scope = ? AND id IN ({marks})",
                [column, *chunk],
            ):
                if meta and meta != "{}":
                    found[message_id] = orjson.loads(meta)
        merged: dict[tuple[str, ...], MetadataValues] = {}
        for ids in sources:
            if (key := tuple(ids)) not in merged:
                merged[key] = merge_metadata(found[i] for i in ids if i in found)
        return [merged[tuple(ids)] for ids in sources]

    def close(self) -> None:
        """Close the connections."""
        with self._lock:
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._conn.close()
            with self._lexicons_lock:
                self._lexicons.clear()
            self._postings.drop()

    def _reader(self) -> sqlite3.Connection | None:
        """The calling thread's read-only connection (``None``: read on the writer's, inside its transaction).

        WAL lets readers run beside each other and beside the writer, so searches in several
        threads, and the writer, do not queue for one connection; each reads what was committed
        when its statement began. An in-memory store has one connection only.
        """
        depth: int = getattr(self._local, "depth", 0)
        if self._target is None or depth:
            return None
        reader: sqlite3.Connection | None = getattr(self._local, "reader", None)
        if reader is None:
            uri = f"{Path(self._target).resolve().as_uri()}?mode=ro"
            reader = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=BUSY_TIMEOUT_S)
            reader.row_factory = sqlite3.Row
            self._local.reader = reader
            with self._lock:
                self._readers.append(reader)
        return reader

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction (nested use joins the outer one)."""
        with self._lock:
            # transaction() nesting of this thread: inside one it reads on the writer's connection
            self._local.depth = getattr(self._local, "depth", 0) + 1
            try:
                if self._conn.in_transaction:
                    yield self._conn
                    return
                yield from self._outermost()
            finally:
                self._local.depth -= 1
            if self._lexical_pending:
                self.drain_lexical()

    def _outermost(self) -> Iterator[sqlite3.Connection]:
        # BEGIN IMMEDIATE takes the write lock at once: writers of several processes queue here.
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreBusyError(
                f"the record store stayed locked by another writer for {BUSY_TIMEOUT_S:.0f} s ({exc}); "
                "nothing was written, try again"
            ) from exc
        try:
            yield self._conn
        except sqlite3.Error as exc:
            self._conn.execute("ROLLBACK")
            raise StoreUnavailableError(f"the record store failed ({exc}); nothing of this call was written") from exc
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    @property
    def nested(self) -> bool:
        """Inside :meth:`transaction`: whether the caller's transaction joined an outer one."""
        return getattr(self._local, "depth", 0) > 1

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        reader = self._reader()
        if reader is not None:
            return reader.execute(sql, params).fetchall()
        with self._lock:
            return self._conn.execute(sql, params).fetchall()

    def _tuples(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Plain tuples, for the hot reads of search (``sqlite3.Row`` access by name costs more)."""
        reader = self._reader()
        if reader is not None:
            cursor = reader.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, params).fetchall()
        with self._lock:
            cursor = self._conn.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, params).fetchall()

    # -- scopes ----------------------------------------------------------------------------
    def _scope_id(self, scope: str) -> int | None:
        """The number the rows of ``scope`` hold for it (``None``: nothing was stored under it).

        Looked up by each call, never kept: a scope deleted by another process and written
        again has a new number.
        """
        rows = self._tuples("SELECT id FROM scopes WHERE key = ?", [scope])
        return int(rows[0][0]) if rows else None

    @staticmethod
    def _interned(conn: sqlite3.Connection, scope: str) -> int:
        """The number of ``scope``, drawn in this write transaction when it has none yet."""
        found = conn.execute("SELECT id FROM scopes WHERE key = ?", (scope,)).fetchone()
        if found is not None:
            return int(found[0])
        return int(conn.execute("INSERT INTO scopes (key) VALUES (?) RETURNING id", (scope,)).fetchone()[0])

    # -- messages and the buffer ---------------------------------------------------------
    def known_message_keys(self, scope: str, messages: Sequence[Message]) -> set[str]:
        """Ids and content keys of ``messages`` already stored in ``scope``."""
        known: set[str] = set()
        sid = self._scope_id(scope)
        for chunk_start in range(0, len(messages), 400):
            chunk = messages[chunk_start : chunk_start + 400]
            marks = ",".join("?" * len(chunk))
            # Each OR branch names the scope so SQLite probes both indexes; "scope = ? AND (id IN
            # ... OR content_key IN ...)" walks every message of the scope instead.
            keys = {content_number(m.content_key): m.content_key for m in chunk}
            rows = self._tuples(
                f"SELECT id, content_key FROM messages WHERE (scope = ? AND id IN ({marks})) "
                f"OR (scope = ? AND content_key IN ({marks}))",
                [sid, *(m.id for m in chunk), sid, *(content_number(m.content_key) for m in chunk)],
            )
            for message_id, number in rows:
                known.add(message_id)
                if number in keys:  # else only the id matched
                    known.add(keys[number])
        return known

    def insert_messages(self, scope: str, messages: Iterable[Message]) -> None:
        """Append messages to the scope's buffer."""
        with self.transaction() as conn:
            sid = self._interned(conn, scope)
            conn.executemany(
                "INSERT OR IGNORE INTO messages (id, scope, content_key, ts, cell_id, data) "
                "VALUES (?, ?, ?, ?, NULL, ?)",
                [
                    (m.id, sid, content_number(m.content_key), m.timestamp.timestamp(), message_json(m))
                    for m in messages
                ],
            )

    def buffered_messages(self, scope: str) -> list[Message]:
        """Messages not yet cut into a MemCell, oldest first (by time, then arrival)."""
        rows = self._rows(
            f"SELECT {_MESSAGE_DATA} FROM messages WHERE scope = ? AND cell_id IS NULL ORDER BY ts, seq",
            [self._scope_id(scope)],
        )
        return [Message.model_validate_json(r["data"]) for r in rows]

    def count_buffered(self, scope: str) -> int:
        """Messages waiting in the scope's buffer."""
        return int(
            self._rows(
                "SELECT COUNT(*) AS n FROM messages WHERE scope = ? AND cell_id IS NULL", [self._scope_id(scope)]
            )[0]["n"]
        )

    def all_messages(self, scope: str) -> list[Message]:
        """Every stored message of a scope in order (for export)."""
        rows = self._rows(
            f"SELECT {_MESSAGE_DATA} FROM messages WHERE scope = ? ORDER BY ts, seq", [self._scope_id(scope)]
        )
        return [Message.model_validate_json(r["data"]) for r in rows]

    def buffered_ids(self, scope: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are messages of ``scope`` still in its buffer (not yet in a MemCell)."""
        found: set[str] = set()
        sid = self._scope_id(scope)
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = self._tuples(
                f"SELECT id FROM messages WHERE scope = ? AND id IN ({marks}) AND cell_id IS NULL", [sid, *chunk]
            )
            found.update(row[0] for row in rows)
        return found

    # -- the vector outbox ----------------------------------------------------------------------
    def queue_vectors(self, scope: str, upserts: Sequence[tuple[str, str, np.ndarray]], deletes: Sequence[str]) -> None:
        """Record vector upserts ``(unit id, kind, vector)`` and deletes in the current transaction.

        The vector index is reconciled from these rows after commit (and at the next open, if a
        crash came first), so what SQLite committed is what Chroma ends up holding.
        """
        with self.transaction() as conn:
            sid = self._interned(conn, scope)
            conn.executemany(
                "INSERT INTO vector_outbox (scope, unit_id, kind, vector) VALUES (?, ?, ?, NULL)",
                [(sid, unit_id, "") for unit_id in deletes],
            )
            conn.executemany(
                "INSERT INTO vector_outbox (scope, unit_id, kind, vector) VALUES (?, ?, ?, ?)",
                [(sid, unit_id, kind, np.asarray(v, dtype=np.float32).tobytes()) for unit_id, kind, v in upserts],
            )

    def has_pending_vectors(self) -> bool:
        """Whether any vector change waits in the outbox (a read, no write lock)."""
        return bool(self._tuples("SELECT 1 FROM vector_outbox UNION ALL SELECT 1 FROM vector_refresh LIMIT 1"))

    def pending_vectors(self) -> list[PendingVector]:
        """Queued vector changes, the last one per unit, oldest first."""
        return latest_vector_changes(
            self._tuples(
                "SELECT o.seq, s.key, o.unit_id, o.kind, o.vector FROM vector_outbox AS o "
                "JOIN scopes AS s ON s.id = o.scope ORDER BY o.seq"
            )
        )

    def clear_vectors(self, up_to_seq: int) -> None:
        """Forget queued vector changes once the vector index holds them."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM vector_outbox WHERE seq <= ?", (up_to_seq,))

    # -- the vectors of small scopes ----------------------------------------------------------
    def put_exact_vectors(
        self, scope: str, ids: Sequence[str], kinds: Sequence[str], vectors: np.ndarray
    ) -> ExactWrite:
        """Store (or replace) the vectors of units of a scope searched exactly.

        A vector is held once per distinct indexed text (the unit's ``vector_key``): a
        one-sentence message is also its fact, often its foresight, and they shared a vector
        stored three times (about 600 of the 4,900 bytes of a stored message). A unit no longer
        stored (deleted since its vector was queued) has nothing to hold.
        """
        by_id = dict(zip(ids, exact_vector_blobs(vectors), strict=True))
        with self.transaction() as conn:
            sid = self._interned(conn, scope)
            for chunk in _chunks(list(by_id)):
                marks = ",".join("?" * len(chunk))
                keyed = conn.execute(
                    f"SELECT id, vector_key FROM units WHERE id IN ({marks}) AND +scope = ?", [*chunk, sid]
                ).fetchall()
                conn.executemany(
                    "INSERT OR REPLACE INTO exact_vectors (scope, vector_key, vector) VALUES (?, ?, ?)",
                    [(sid, key, by_id[unit_id]) for unit_id, key in keyed],
                )
            return self._new_exact_version(conn, sid)

    def delete_exact_vectors(self, scope: str, ids: Sequence[str] | None) -> ExactWrite:
        """Remove the vectors of units of a scope searched exactly (``None``: all of them).

        A vector another unit of the scope shares stays. Removing a unit drops its vector at
        once (:meth:`_drop_unshared_vectors`); this drops those of units still stored.
        """
        with self.transaction() as conn:
            if (sid := self._scope_id(scope)) is None:
                return ExactWrite(None, None, 0)  # nothing was stored under it
            if ids is None:  # nothing held, no version
                conn.execute("DELETE FROM exact_vectors WHERE scope = ?", (sid,))
                conn.execute("DELETE FROM exact_versions WHERE scope = ?", (sid,))
                return ExactWrite(None, None, 0)
            keys: set[int] = set()
            for chunk in _chunks(list(dict.fromkeys(ids))):
                marks = ",".join("?" * len(chunk))
                keys.update(
                    key
                    for (key,) in conn.execute(
                        f"SELECT vector_key FROM units WHERE id IN ({marks}) AND +scope = ?", [*chunk, sid]
                    )
                )
            self._drop_unshared_vectors(conn, {sid: keys}, frozenset(ids))
            return self._new_exact_version(conn, sid)

    @staticmethod
    def _drop_unshared_vectors(
        conn: sqlite3.Connection, keys: dict[int, set[int]], leaving: frozenset[str] = frozenset()
    ) -> None:
        """Drop the exact vectors of ``keys`` (by scope number) no unit of the scope holds, but those ``leaving``."""
        for sid, wanted in keys.items():
            if not wanted or not conn.execute("SELECT 1 FROM exact_versions WHERE scope = ?", (sid,)).fetchone():
                continue  # a scope in Chroma holds no exact vectors
            # One pass over the scope's entries of units_scope, which holds the keys: the units'
            # rows are read only when some must be left out by id.
            held = conn.execute(
                f"SELECT {'id' if leaving else 'NULL'}, vector_key FROM units INDEXED BY units_scope "
                "WHERE scope = ? AND vector_key IS NOT NULL",
                (sid,),
            )
            shared = {key for unit_id, key in held if key in wanted and unit_id not in leaving}
            for chunk in _chunks(sorted(wanted - shared)):
                marks = ",".join("?" * len(chunk))
                conn.execute(f"DELETE FROM exact_vectors WHERE scope = ? AND vector_key IN ({marks})", [sid, *chunk])

    @staticmethod
    def _new_exact_version(conn: sqlite3.Connection, sid: int) -> ExactWrite:
        """Draw the next version of a scope (by number), and count what it holds."""
        before, after = _next_version(conn, "exact_versions", sid)
        held = conn.execute("SELECT count(*) FROM exact_vectors WHERE scope = ?", (sid,)).fetchone()[0]
        return ExactWrite(before, after, int(held))

    def exact_version(self, scope: str) -> int | None:
        """A token that changes with every change of the scope's exact vectors (``None``: it holds none)."""
        rows = self._tuples("SELECT version FROM exact_versions WHERE scope = ?", [self._scope_id(scope)])
        return int(rows[0][0]) if rows else None

    def exact_vectors(self, scope: str) -> ExactVectors:
        """Every vector a scope searched exactly holds, by id."""
        rows = self._tuples(
            "SELECT u.id, u.kind, u.cell_id, u.subject, u.role, e.vector FROM units AS u "
            "JOIN exact_vectors AS e ON e.scope = u.scope AND e.vector_key = u.vector_key "
            "WHERE u.scope = ? ORDER BY u.id",
            [self._scope_id(scope)],
        )
        return ExactVectors(
            [r[0] for r in rows],
            [r[1] for r in rows],
            [UnitKeys(r[2], r[3], r[4]) for r in rows],
            exact_matrix([r[5] for r in rows]),
        )

    def passing(
        self, scope: str, ranked: Sequence[tuple[str, float]], where: UnitFilter, limit: int
    ) -> list[tuple[str, float]]:
        """The first ``limit`` of a ranking of units whose units pass ``where`` (the SQL of BM25's filter).

        The head of the ranking is judged by id; when too few of it pass, one pass over the
        scope's units judges the rest, which costs less than long lists of ids.
        """
        condition, params = to_sql(where)
        # The fragments are built of placeholders and validated names; every value is bound.
        head = ranked[: 4 * max(limit, 100)]
        sid = self._scope_id(scope)
        found: set[str] = set()
        for chunk in _chunks([unit_id for unit_id, _ in head]):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT id FROM units WHERE scope = ? AND id IN ({marks}) AND ({condition})"
            found.update(row[0] for row in self._tuples(sql, [sid, *chunk, *params]))
        passed = [(i, score) for i, score in head if i in found]
        if len(passed) < limit and len(ranked) > len(head):
            sql = f"SELECT id FROM units WHERE scope = ? AND ({condition})"
            found = {row[0] for row in self._tuples(sql, [sid, *params])}
            rest = (ranked[n] for n in range(len(head), len(ranked)))  # read only until enough pass
            passed += itertools.islice(((i, score) for i, score in rest if i in found), limit - len(passed))
        return passed[:limit]

    def indexed_scope(self, scope: str) -> bool:
        """Whether the scope's vectors are in the vector index (else here, searched exactly)."""
        return bool(self._tuples("SELECT 1 FROM indexed_scopes WHERE scope = ?", [self._scope_id(scope)]))

    def mark_indexed(self, scope: str) -> None:
        """Record that the scope's vectors moved to the vector index, and drop them here."""
        with self.transaction() as conn:
            sid = self._interned(conn, scope)
            conn.execute("INSERT OR IGNORE INTO indexed_scopes (scope) VALUES (?)", (sid,))
            conn.execute("DELETE FROM exact_vectors WHERE scope = ?", (sid,))
            conn.execute("DELETE FROM exact_versions WHERE scope = ?", (sid,))

    def vector_metadata(self, scope: str, ids: Sequence[str]) -> dict[str, tuple[str, dict[str, Any]]]:
        """``(kind, Chroma metadata)`` of stored units by id: what filters pushed down to Chroma read."""
        found: dict[str, tuple[str, dict[str, Any]]] = {}
        sid = self._scope_id(scope)
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for unit_id, kind, ts, cell_id, subject, meta in self._tuples(
                f"SELECT id, kind, ts, cell_id, subject, meta FROM units WHERE id IN ({marks}) AND +scope = ?",
                [*chunk, sid],
            ):
                moment = None if ts is None else datetime.fromtimestamp(ts, tz=UTC)
                found[unit_id] = (kind, chroma_metadata(kind, moment, subject, cell_id, orjson.loads(meta)))
        return found

    def pending_refresh(self, limit: int = 5_000) -> list[tuple[int, str, str]]:
        """``(seq, scope, unit id)`` of vectors whose metadata a migration left to rewrite, oldest first."""
        return [
            (seq, scope, unit_id)
            for seq, scope, unit_id in self._tuples(
                "SELECT r.seq, s.key, r.unit_id FROM vector_refresh AS r JOIN scopes AS s ON s.id = r.scope "
                "ORDER BY r.seq LIMIT ?",
                [limit],
            )
        ]

    def clear_refresh(self, up_to_seq: int) -> None:
        """Forget metadata refreshes the vector index has applied."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM vector_refresh WHERE seq <= ?", (up_to_seq,))

    # -- MemCells, facts, foresight ----------------------------------------------------------
    def save_cell(self, cell: MemCell, units: Sequence[Unit], stale_unit_ids: Sequence[str]) -> None:
        """Store a MemCell with its facts and foresight, mark its messages, swap its units in.

        Its facts, foresight and messages live in their own tables, each once: the MemCell's
        record leaves them out and :meth:`cells` attaches them. The units go in first: a fact or
        foresight leaves out the text its unit holds.
        """
        with self.transaction() as conn:
            self.remove_units(cell.scope, stale_unit_ids)
            self.put_units(units)
            sid = self._interned(conn, cell.scope)
            conn.execute(
                "INSERT OR REPLACE INTO cells (id, scope, start_ts, end_ts, scene_id, data) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    cell.id,
                    sid,
                    _ts(cell.start_time),
                    _ts(cell.end_time),
                    cell.scene_id,
                    record_json(cell, (*CELL_COLUMNS, *_CELL_PARTS)),
                ),
            )
            self._save_facts(conn, sid, cell.facts)
            held = self._text_held_by_units(conn, sid, cell.foresight)
            conn.executemany(
                "INSERT OR REPLACE INTO foresight (id, scope, cell_id, start_ts, end_ts, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (f.id, sid, f.cell_id, _ts(f.start), _ts(f.end), record_json(f, (*FORESIGHT_COLUMNS, *held(f))))
                    for f in cell.foresight
                ],
            )
            ids = [m.id for m in cell.messages]
            conn.executemany(
                "UPDATE messages SET cell_id = ? WHERE scope = ? AND id = ?", [(cell.id, sid, i) for i in ids]
            )

    @staticmethod
    def _text_held_by_units(
        conn: sqlite3.Connection, sid: int, records: Sequence[Fact | Foresight]
    ) -> Callable[[Fact | Foresight], tuple[str, ...]]:
        """Which record's text its unit holds (the same text, same id): its row leaves it out, ``("text",)``.

        The text was the largest field stored twice. Removing the unit gives it back to the row
        (see ``_remove_unit_rows``), so a record never loses it.
        """
        texts: dict[str, str] = {}
        for chunk in _chunks([r.id for r in records]):
            marks = ",".join("?" * len(chunk))
            texts.update(
                conn.execute(f"SELECT id, text FROM units WHERE id IN ({marks}) AND +scope = ?", [*chunk, sid])
            )
        return lambda record: ("text",) if texts.get(record.id) == record.text else ()

    @classmethod
    def _save_facts(cls, conn: sqlite3.Connection, sid: int, facts: Sequence[Fact]) -> None:
        held = cls._text_held_by_units(conn, sid, facts)
        conn.executemany(
            "INSERT OR REPLACE INTO facts (id, scope, cell_id, subject, attribute, ts, superseded_by, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    f.id,
                    sid,
                    f.cell_id,
                    f.subject,
                    f.attribute,
                    _ts(f.timestamp),
                    f.superseded_by,
                    record_json(f, (*FACT_COLUMNS, *held(f))),
                )
                for f in facts
            ],
        )
        conn.executemany(
            "INSERT OR IGNORE INTO subjects (scope, subject) VALUES (?, ?)", [(sid, f.subject) for f in facts]
        )

    def update_facts(self, scope: str, facts: Sequence[Fact]) -> None:
        """Rewrite facts (supersession) and the data their units carry.

        A message shown as said carries the supersession of the facts said in it, so a
        message that states an old value reads as history too.
        """
        with self.transaction() as conn:
            sid = self._interned(conn, scope)
            self._save_facts(conn, sid, facts)
            # Only what supersession changes: the unit's record keeps the rest (its scene, for one).
            conn.executemany(
                "UPDATE units SET data = json_set(data, '$.superseded_by', ?, '$.valid_until', ?) "
                "WHERE scope = ? AND id = ?",
                [(*supersession_of(f), sid, f.id) for f in facts],
            )
            said_in = list({f.source_message_ids[0] for f in facts if len(f.source_message_ids) == 1})
            if not said_in:
                return
            marks = ",".join("?" * len(said_in))
            outdated: dict[str, tuple[str, str | None]] = {}
            for message_id, superseded_by, valid_until in self._tuples(
                "SELECT message_id, json_extract(data, '$.superseded_by'), json_extract(data, '$.valid_until') "
                f"FROM units WHERE scope = ? AND message_id IN ({marks}) AND kind = 'fact'",
                [sid, *said_in],
            ):
                if superseded_by and message_id not in outdated:
                    outdated[message_id] = (superseded_by, valid_until)
            rows = self._rows(
                f"SELECT id, message_id, data FROM units "
                f"WHERE scope = ? AND message_id IN ({marks}) AND kind = 'message'",
                [sid, *said_in],
            )
            updates = []
            for row in rows:
                data = json.loads(row["data"])
                data.pop("superseded_by", None)
                data.pop("valid_until", None)
                old = outdated.get(row["message_id"])
                if old is not None:
                    data["superseded_by"], data["valid_until"] = old
                updates.append((json.dumps(data, default=str), row["id"]))
            conn.executemany("UPDATE units SET data = ? WHERE id = ?", updates)

    def existing_fact_ids(self, scope: str, ids: Sequence[str]) -> set[str]:
        """Which of ``ids`` are stored facts."""
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        # "+scope" keeps SQLite on the primary key: from a few ids on it would walk the scope's index.
        rows = self._rows(f"SELECT id FROM facts WHERE id IN ({marks}) AND +scope = ?", [*ids, self._scope_id(scope)])
        return {r["id"] for r in rows}

    def facts(self, scope: str) -> list[Fact]:
        """Facts of a scope in time order."""
        rows = self._rows(f"SELECT {_FACT_READ} FROM {_FACTS} WHERE r.scope = ? ORDER BY r.ts", [self._scope_id(scope)])
        return [from_row(Fact, r, FACT_COLUMNS) for r in rows]

    def current_keyed_facts(self, scope: str, subject: str, attribute: str) -> list[Fact]:
        """Facts about ``subject``'s ``attribute`` that nothing has superseded yet."""
        rows = self._rows(
            f"SELECT {_FACT_READ} FROM {_FACTS} "
            "WHERE r.scope = ? AND r.subject = ? AND r.attribute = ? AND r.superseded_by IS NULL",
            [self._scope_id(scope), subject, attribute],
        )
        return [from_row(Fact, r, FACT_COLUMNS) for r in rows]

    def subjects(self, scope: str) -> list[str]:
        """Everyone facts have been recorded about in a scope.

        Kept in a table of its own: every search asks, and a DISTINCT over the facts would read
        all of a large scope's facts.
        """
        rows = self._rows("SELECT subject FROM subjects WHERE scope = ?", [self._scope_id(scope)])
        return [r["subject"] for r in rows]

    def cells(self, scope: str, ids: Sequence[str] | None = None) -> list[MemCell]:
        """MemCells of a scope in time order, messages, facts and foresight attached."""
        sid = self._scope_id(scope)
        sql, params = "SELECT id, scene_id, data FROM cells WHERE scope = ?", list[Any]([sid])
        if ids is not None:
            if not ids:
                return []
            sql += f" AND id IN ({','.join('?' * len(ids))})"
            params.extend(ids)
        rows = self._rows(sql + " ORDER BY start_ts", params)
        cells = [from_row(MemCell, r, CELL_COLUMNS, scope=scope) for r in rows]
        return self._attach(sid, cells)

    def _attach(self, sid: int | None, cells: list[MemCell]) -> list[MemCell]:
        if not cells:
            return cells
        by_id = {c.id: c for c in cells}
        marks = ",".join("?" * len(by_id))
        for cell in cells:
            cell.messages.clear()  # a record written by an earlier release holds copies
        for cell_id, data in self._tuples(
            f"SELECT cell_id, {_MESSAGE_DATA} FROM messages WHERE scope = ? AND cell_id IN ({marks}) ORDER BY ts, seq",
            [sid, *by_id],
        ):
            by_id[cell_id].messages.append(Message.model_validate_json(data))
        for row in self._rows(
            f"SELECT {_FACT_READ} FROM {_FACTS} WHERE r.scope = ? AND r.cell_id IN ({marks}) ORDER BY r.ts",
            [sid, *by_id],
        ):
            fact = from_row(Fact, row, FACT_COLUMNS)
            by_id[fact.cell_id].facts.append(fact)
        for row in self._rows(
            f"SELECT {_FORESIGHT_READ} FROM {_FORESIGHTS} "
            f"WHERE r.scope = ? AND r.cell_id IN ({marks}) ORDER BY r.start_ts",
            [sid, *by_id],
        ):
            item = from_row(Foresight, row, FORESIGHT_COLUMNS)
            by_id[item.cell_id].foresight.append(item)
        return cells

    def set_cell_scene(self, scope: str, cell_id: str, scene_id: str) -> None:
        """Record which scene a MemCell joined."""
        # Set in place: parsing the MemCell would validate every message of it again, for one field.
        with self.transaction() as conn:
            conn.execute(  # its units read the scene from here
                "UPDATE cells SET scene_id = ? WHERE id = ? AND scope = ?", (scene_id, cell_id, self._scope_id(scope))
            )

    def foresight(self, scope: str) -> list[Foresight]:
        """All foresight of a scope, by start."""
        rows = self._rows(
            f"SELECT {_FORESIGHT_READ} FROM {_FORESIGHTS} WHERE r.scope = ? ORDER BY r.start_ts",
            [self._scope_id(scope)],
        )
        return [from_row(Foresight, r, FORESIGHT_COLUMNS) for r in rows]

    # -- scenes ---------------------------------------------------------------------------------
    def scenes(self, scope: str) -> list[tuple[MemScene, np.ndarray]]:
        """Scenes of a scope with their centroids, most recently active first."""
        rows = self._rows(
            "SELECT data, centroid FROM scenes WHERE scope = ? ORDER BY last_ts DESC", [self._scope_id(scope)]
        )
        return [(from_row(MemScene, r, (), scope=scope), np.frombuffer(r["centroid"], dtype=np.float32)) for r in rows]

    def scene_centroids(self, scope: str, active_since: datetime) -> tuple[list[str], np.ndarray]:
        """Ids and centroids (one row each) of scenes active since ``active_since``, latest first.

        A scene is active since a moment when its last MemCell ended at or after it. Clustering
        compares a MemCell with these and then loads only the scene it joins: decoding every
        candidate's member list would cost more with every MemCell stored.
        """
        rows = self._rows(
            "SELECT id, centroid FROM scenes WHERE scope = ? AND last_ts >= ? ORDER BY last_ts DESC",
            [self._scope_id(scope), active_since.timestamp()],
        )
        centroids = np.array([np.frombuffer(r["centroid"], dtype=np.float32) for r in rows], dtype=np.float32)
        return [r["id"] for r in rows], centroids

    def scene(self, scope: str, scene_id: str) -> MemScene:
        """One scene by id."""
        rows = self._rows("SELECT data FROM scenes WHERE scope = ? AND id = ?", [self._scope_id(scope), scene_id])
        return from_row(MemScene, rows[0], (), scope=scope)

    def save_scene(self, scene: MemScene, centroid: np.ndarray) -> None:
        """Insert or replace a scene and its centroid."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO scenes (id, scope, last_ts, size, centroid, data) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    scene.id,
                    self._interned(conn, scene.scope),
                    _ts(scene.end_time),
                    len(scene.cell_ids),
                    np.asarray(centroid, dtype=np.float32).tobytes(),
                    record_json(scene, ("scope",)),
                ),
            )

    # -- profile and conversation meta -----------------------------------------------------------
    def profile_items(self, scope: str, subject: str | None = None, *, current_only: bool = False) -> list[ProfileItem]:
        """Profile entries of a scope (optionally of one subject, or only current ones)."""
        sql, params = f"SELECT {_PROFILE_READ} FROM profile WHERE scope = ?", list[Any]([self._scope_id(scope)])
        if subject is not None:
            sql += " AND subject = ?"
            params.append(subject)
        if current_only:
            sql += " AND status = 'current'"
        return [from_row(ProfileItem, r, PROFILE_COLUMNS, scope=scope) for r in self._rows(sql, params)]

    def save_profile_items(self, items: Sequence[ProfileItem]) -> None:
        """Insert or replace profile entries."""
        with self.transaction() as conn:
            sids = {scope: self._interned(conn, scope) for scope in {p.scope for p in items}}
            conn.executemany(
                "INSERT OR REPLACE INTO profile (id, scope, subject, attribute, status, data) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.id,
                        sids[p.scope],
                        p.subject,
                        p.attribute,
                        p.status,
                        record_json(p, PROFILE_COLUMNS),
                    )
                    for p in items
                ],
            )

    def delete_profile_items(self, scope: str, ids: Sequence[str]) -> None:
        """Remove profile entries (compaction, explicit deletes)."""
        with self.transaction() as conn:
            sid = self._scope_id(scope)
            conn.executemany("DELETE FROM profile WHERE scope = ? AND id = ?", [(sid, i) for i in ids])

    def meta(self, scope: str) -> ConversationMeta | None:
        """The scope's conversation metadata, if set."""
        rows = self._rows("SELECT data FROM meta WHERE scope = ?", [self._scope_id(scope)])
        return ConversationMeta.model_validate_json(rows[0]["data"]) if rows else None

    def save_meta(self, scope: str, meta: ConversationMeta) -> None:
        """Set the scope's conversation metadata."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO meta (scope, data) VALUES (?, ?)",
                (self._interned(conn, scope), meta.model_dump_json()),
            )

    # -- units and the lexical index ----------------------------------------------------------------
    def put_units(self, units: Sequence[Unit]) -> None:
        """Insert or replace searchable units (records and BM25 entries).

        The FTS5 row shares the unit's rowid, so replacing or deleting a unit touches its
        index entry directly instead of scanning the index.
        """
        if not units:
            return
        # The last of several units with one id wins, as if they were written one by one.
        latest = list({unit.id: unit for unit in units}.values())
        with self.transaction() as conn:
            sids = {scope: self._interned(conn, scope) for scope in {unit.scope for unit in latest}}
            # What a memory inherits from its messages is worked out here, once for every write path.
            metas = self._unit_metadata(conn, latest, sids)
            # One statement per step for the whole batch: bulk loads write thousands of units.
            replaced: dict[int, set[int]] = {}
            removed: dict[int, list[int]] = {}
            for chunk in _chunks([unit.id for unit in latest]):
                self._remove_unit_rows(conn, f"id IN ({','.join('?' * len(chunk))})", chunk, replaced, removed)
            bodies = [lexical_text(unit.indexed_text) for unit in latest]
            conn.executemany(
                "INSERT INTO units (id, scope, kind, cell_id, ts, text, message_id, data, meta, subject, role, "
                "context, lexical, vector_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        unit.id,
                        sids[unit.scope],
                        unit.kind,
                        unit.cell_id,
                        _ts(unit.timestamp),
                        unit.text,
                        _single_source(unit),
                        json.dumps(_data_beside_columns(unit), default=str),
                        orjson.dumps(meta).decode(),
                        _text(unit.data.get("subject")),
                        _text(unit.data.get("role")),
                        # What the index holds beyond the text: the context, or the whole body segmented.
                        *((unit.context or None, None) if body == unit.indexed_text else (None, body)),
                        vector_key(unit.indexed_text),
                    )
                    for unit, meta, body in zip(latest, metas, bodies, strict=True)
                ],
            )
            self._drop_unshared_vectors(conn, replaced)  # after the insert: a unit rewritten keeps its vector
            # Postings first: a scope the write takes to the tantivy tier then drops what it holds.
            self._follow_postings(conn, removed, latest, bodies, sids)
            self._follow_lexical_tier(conn, latest, bodies, sids)

    def _follow_lexical_tier(
        self, conn: sqlite3.Connection, written: Sequence[Unit], bodies: Sequence[str], sids: Mapping[str, int]
    ) -> None:
        """Index and log the written units of scopes served by tantivy; a scope that reached the tier's size joins it.

        Only those scopes have FTS5 entries: a small scope is ranked from its units' postings.
        """
        tiered = self._tiered_scopes(conn)
        indexed = [(u, body) for u, body in zip(written, bodies, strict=True) if sids[u.scope] in tiered]
        if indexed:
            conn.executemany(
                "INSERT INTO units_fts (rowid, body, part_tok, kind_tok) SELECT rowid, ?, ?, ? FROM units WHERE id = ?",
                [(body, *_lexical_tokens(u.scope, u.kind), u.id) for u, body in indexed],
            )
            conn.executemany(
                "INSERT INTO lexical_log (scope, row) SELECT scope, rowid FROM units WHERE id = ?",
                [(u.id,) for u, _ in indexed],
            )
            self._lexical_pending = True
        for scope in {unit.scope for unit in written}:
            if (sid := sids[scope]) in tiered:
                continue
            # Counting stops at the tier's size, so a small scope's write counts only its own units.
            (held,) = conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM units WHERE scope = ? LIMIT ?)", (sid, LEXICAL_TIER_UNITS)
            ).fetchone()
            if held >= LEXICAL_TIER_UNITS:
                # applied 0: the drain builds the indexes from the scope's units.
                conn.execute("INSERT INTO lexical_scopes VALUES (?, ?, 0)", (sid, secrets.token_hex(8)))
                self._index_in_fts5(conn, scope, sid)
                self._lexical_pending = True
                self._postings.drop(scope)  # ranked by tantivy from now on

    @staticmethod
    def _index_in_fts5(conn: sqlite3.Connection, scope: str, column: int | str) -> None:
        """Give every unit of ``scope`` its FTS5 entry (a scope joining the tier), a chunk of rows at a time.

        ``column`` is what the units' ``scope`` column holds for it: its number (its key before layout 13).
        """
        last = 0
        while rows := conn.execute(
            "SELECT rowid, kind, text, context, lexical FROM units WHERE scope = ? AND rowid > ? "
            "ORDER BY rowid LIMIT ?",
            (column, last, MIGRATION_CHUNK),
        ).fetchall():
            last = rows[-1][0]
            conn.executemany(
                "INSERT INTO units_fts (rowid, body, part_tok, kind_tok) VALUES (?, ?, ?, ?)",
                [_lexical_entry(row[0], scope, *row[1:]) for row in rows],
            )

    @staticmethod
    def _tiered_scopes(conn: sqlite3.Connection) -> dict[int, str]:
        """The scopes of the tantivy tier: their keys by number."""
        return dict(conn.execute("SELECT l.scope, s.key FROM lexical_scopes AS l JOIN scopes AS s ON s.id = l.scope"))

    def _unit_metadata(
        self, conn: sqlite3.Connection, units: Sequence[Unit], sids: Mapping[str, int]
    ) -> list[MetadataValues]:
        metas: list[MetadataValues] = [{} for _ in units]
        by_scope: dict[str, list[int]] = {}
        for n, unit in enumerate(units):
            by_scope.setdefault(unit.scope, []).append(n)
        for scope, rows in by_scope.items():
            merged = self._metadata_of_sources(conn, sids[scope], [_sources(units[n].data) for n in rows])
            for n, meta in zip(rows, merged, strict=True):
                metas[n] = meta
        return metas

    def _remove_unit_rows(
        self,
        conn: sqlite3.Connection,
        where: str,
        params: Sequence[Any],
        keys: dict[int, set[int]] | None = None,
        rows_of: dict[int, list[int]] | None = None,
    ) -> None:
        """Delete units with their lexical entries.

        Their vector keys and their rows, by scope number, are added to ``keys`` and ``rows_of``.
        """
        rows = conn.execute(
            f"SELECT rowid, scope, kind, text, context, lexical, vector_key, id FROM units WHERE {where}", params
        )
        removed = rows.fetchall()
        for table, kind in (("facts", "fact"), ("foresight", "foresight")):
            conn.executemany(  # a record that outlives its unit keeps the text the unit held for it
                f"UPDATE {table} SET data = json_set(data, '$.text', ?) "
                "WHERE id = ? AND scope = ? AND json_extract(data, '$.text') IS NULL",
                [(row[3], row[7], row[1]) for row in removed if row[2] == kind],
            )
        tiered = self._tiered_scopes(conn) if removed else {}
        conn.executemany(  # only the tier's scopes have FTS5 entries
            "INSERT INTO units_fts (units_fts, rowid, body, part_tok, kind_tok) VALUES ('delete', ?, ?, ?, ?)",
            [_lexical_entry(row[0], tiered[row[1]], *row[2:6]) for row in removed if row[1] in tiered],
        )
        if keys is not None:
            for row in removed:
                keys.setdefault(row[1], set()).add(row[6])
        if rows_of is not None:
            for row in removed:
                rows_of.setdefault(row[1], []).append(row[0])
        logged = [(scope, rowid) for rowid, scope, *_ in removed if scope in tiered]
        if logged:
            conn.executemany("INSERT INTO lexical_log (scope, row) VALUES (?, ?)", logged)
            self._lexical_pending = True
        conn.execute(f"DELETE FROM units WHERE {where}", params)

    def remove_units(self, scope: str, ids: Sequence[str]) -> None:
        """Drop units (and their BM25 entries) by id."""
        with self.transaction() as conn:
            if (sid := self._scope_id(scope)) is None:
                return  # nothing stored under it
            removed: dict[int, set[int]] = {}
            rows_of: dict[int, list[int]] = {}
            for unit_id in ids:
                self._remove_unit_rows(conn, "scope = ? AND id = ?", (sid, unit_id), removed, rows_of)
            self._drop_unshared_vectors(conn, removed)
            self._follow_postings(conn, rows_of, (), (), {scope: sid})

    def units(self, scope: str, ids: Sequence[str]) -> dict[str, Unit]:
        """Units by id (ids of other scopes are ignored: the tenant wall)."""
        found: dict[str, Unit] = {}
        sid = self._scope_id(scope)
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            # "+scope" keeps SQLite on the primary key: a large scope makes the scope index a full scan.
            for row in self._tuples(
                "SELECT u.id, u.kind, u.text, u.cell_id, u.ts, u.data, u.meta, u.subject, u.role, "
                "u.message_id, c.scene_id FROM units AS u "
                "LEFT JOIN cells AS c ON c.id = u.cell_id AND c.scope = u.scope "
                f"WHERE u.id IN ({marks}) AND +u.scope = ?",
                [*chunk, sid],
            ):
                unit_id, kind, text, cell_id, ts, data, meta, subject, role, message_id, scene_id = row
                moment = None if ts is None else datetime.fromtimestamp(ts, tz=UTC)
                record = _data_with_columns(orjson.loads(data), subject, role, message_id, cell_id, scene_id)
                found[unit_id] = Unit(unit_id, scope, kind, text, cell_id, moment, record, metadata=orjson.loads(meta))
        return found

    def unit_keys(self, scope: str, ids: Sequence[str]) -> dict[str, UnitKeys]:
        """The cell, subject and role of units by id, without parsing their records."""
        found: dict[str, UnitKeys] = {}
        sid = self._scope_id(scope)
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            for unit_id, cell_id, subject, role in self._tuples(
                f"SELECT id, cell_id, subject, role FROM units WHERE id IN ({marks}) AND +scope = ?",
                [*chunk, sid],
            ):
                found[unit_id] = UnitKeys(cell_id, subject, role)
        return found

    def unit_ids_of_cells(self, scope: str, cell_ids: Sequence[str], kinds: Sequence[str]) -> list[tuple[str, str]]:
        """``(unit id, cell id)`` of the units of the given MemCells, in time order."""
        if not cell_ids:
            return []
        marks = ",".join("?" * len(cell_ids))
        kind_marks = ",".join("?" * len(kinds))
        rows = self._rows(
            f"SELECT id, cell_id FROM units WHERE scope = ? AND cell_id IN ({marks}) AND +kind IN ({kind_marks}) "
            "ORDER BY ts",
            [self._scope_id(scope), *cell_ids, *kinds],
        )
        return [(r["id"], r["cell_id"]) for r in rows]

    def unit_ids_of_messages(
        self, scope: str, message_ids: Sequence[str], kinds: Sequence[str]
    ) -> list[tuple[str, str]]:
        """``(unit id, message id)`` of the ``kinds`` units drawn from exactly one of the messages, in time order."""
        if not message_ids:
            return []
        marks = ",".join("?" * len(message_ids))
        kind_marks = ",".join("?" * len(kinds))
        rows = self._rows(
            f"SELECT id, message_id FROM units WHERE scope = ? AND message_id IN ({marks}) AND kind IN ({kind_marks}) "
            "ORDER BY ts, rowid",
            [self._scope_id(scope), *message_ids, *kinds],
        )
        return [(r["id"], r["message_id"]) for r in rows]

    def lexical_terms(self, query: str, scope: str) -> list[str]:
        """The terms of ``query`` that :meth:`bm25` scores in ``scope``: every one.

        A small scope is ranked from postings in memory and a large one by tantivy, which
        skips blocks that cannot reach the top: a common term costs neither much.
        """
        return query_terms(query)

    def bm25(
        self, scope: str, terms: Sequence[str], kinds: Sequence[str], limit: int, where: UnitFilter | None = None
    ) -> list[tuple[str, float]]:
        """Rank units of ``scope`` by BM25 against :meth:`lexical_terms`; returns ``(unit_id, score)``.

        ``where`` keeps only the units passing a filter, so the ``limit`` goes to units that pass.
        A small scope is ranked from its postings in memory (:mod:`~evermem_integrations.engine.postings`),
        the subjects a filter names judged there and the rest of it on the best candidates.
        A large scope is ranked by tantivy when it holds every logged change and the kinds are
        one whole group (the common query); the filter is then judged on its best candidates, and
        FTS5 ranks the query when too few of them pass (FTS5 holds every unit of the tier's scopes).
        """
        if not terms or limit <= 0:
            return []
        rows = self._tuples(
            "SELECT s.id, EXISTS (SELECT 1 FROM lexical_scopes WHERE scope = s.id), "
            "(SELECT version FROM lexical_versions WHERE scope = s.id) FROM scopes AS s WHERE s.key = ?",
            [scope],
        )
        if not rows:
            return []
        sid, tiered, version = rows[0]
        if not tiered:
            return (
                self._ranked_in_memory(scope, sid, version, terms, kinds, limit, where) if version is not None else []
            )
        group = next((name for name, group_kinds in KIND_GROUPS if group_kinds == frozenset(kinds)), None)
        lexicon = None if group is None else self._current_lexicon(scope, sid)
        hits = None
        wanted = limit if where is None else 4 * max(limit, 100)
        if lexicon is not None and group is not None:
            try:
                hits = lexicon.search(group, terms, wanted)
            except (OSError, ValueError) as exc:  # a damaged index: FTS5 still holds everything
                logger.warning("tantivy search of %s failed (%s); ranked by FTS5", scope, exc)
        if hits is not None:
            ids = self._ids_of_rows(sid, [row for row, _ in hits])
            ranked = [(ids[row], score) for row, score in hits if row in ids]
            if where is None:
                return ranked[:limit]
            passed = self.passing(scope, ranked, where, limit)
            if len(passed) == limit or len(hits) < wanted:  # else the filter needs a ranking past these
                return passed
        return self._ranked_by_fts5(scope, sid, terms, kinds, limit, where)

    def _ranked_by_fts5(
        self, scope: str, sid: int, terms: Sequence[str], kinds: Sequence[str], limit: int, where: UnitFilter | None
    ) -> list[tuple[str, float]]:
        """BM25 in FTS5 (a scope of the tier), whose statistics are the tier's; ``where`` is judged in its query."""
        term_query = " OR ".join(f'"{t}"' for t in terms)
        partitions = []
        for _, group_kinds in KIND_GROUPS:
            selected = group_kinds.intersection(kinds)
            if not selected:
                continue
            partition = f'part_tok : "{partition_token(scope, next(iter(group_kinds)))}"'
            if selected != group_kinds:
                partition = f"({partition} AND kind_tok : ({' OR '.join(f'k{k}' for k in sorted(selected))}))"
            partitions.append(partition)
        if not partitions:
            return []
        match = f"({' OR '.join(partitions)}) AND body : ({term_query})"
        if where is not None:
            condition, params = to_sql(where)
            rows = self._tuples(
                # The fragment is built of placeholders and validated names; every value is bound.
                "SELECT units.id, bm25(units_fts, 1.0, 0.0, 0.0) AS rank FROM units_fts "
                "JOIN units ON units.rowid = units_fts.rowid WHERE units_fts MATCH ? AND units.scope = ? "
                f"AND ({condition}) ORDER BY rank LIMIT ?",
                [match, sid, *params, limit],
            )
        else:
            # FTS5 ranks and cuts to the limit before the join names the entries.
            rows = self._tuples(
                "SELECT units.id, ranked.rank FROM (SELECT rowid, bm25(units_fts, 1.0, 0.0, 0.0) AS rank "
                "FROM units_fts WHERE units_fts MATCH ? ORDER BY rank LIMIT ?) AS ranked "
                "JOIN units ON units.rowid = ranked.rowid ORDER BY ranked.rank",
                [match, limit],
            )
        return [(unit_id, -float(rank)) for unit_id, rank in rows]

    def _ranked_in_memory(
        self,
        scope: str,
        sid: int,
        version: int,
        terms: Sequence[str],
        kinds: Sequence[str],
        limit: int,
        where: UnitFilter | None,
    ) -> list[tuple[str, float]]:
        postings = self._postings.get(scope, version) or self._read_postings(scope, sid, version)
        subjects, rest = split_subjects(where) if where is not None else (None, MATCH_ALL)
        positions, scores = postings.rank(terms, kinds, subjects)
        if is_empty(rest):
            return [(postings.ids[n], float(score)) for n, score in zip(positions[:limit], scores[:limit], strict=True)]
        ranked = [(postings.ids[n], float(score)) for n, score in zip(positions, scores, strict=True)]
        return self.passing(scope, ranked, rest, limit)

    def _read_postings(self, scope: str, sid: int, version: int) -> ScopePostings:
        """Read a scope's postings from its units; lookups of one search that miss them together wait for one read.

        A read on the writer's connection (inside a transaction, or an in-memory store) runs under
        the store's lock already, and takes no second one: two locks taken in either order could
        deadlock.
        """
        if self._reader() is None:
            return self._postings_from_rows(scope, sid, version)
        with self._postings_read_lock:
            return self._postings.get(scope, version) or self._postings_from_rows(scope, sid, version)

    def _postings_from_rows(self, scope: str, sid: int, version: int) -> ScopePostings:
        # Read after the version: units written meanwhile are newer than it, and the next
        # search, seeing another version, reads them again.
        found = self._tuples(
            "SELECT rowid, id, kind, subject, text, context, lexical FROM units WHERE scope = ? ORDER BY rowid",
            [sid],
        )
        postings = ScopePostings.of(
            version, [PostingEntry(r[0], r[1], r[2], r[3], _lexical_body(r[4], r[5], r[6])) for r in found]
        )
        self._postings.put(scope, postings)
        return postings

    def _follow_postings(
        self,
        conn: sqlite3.Connection,
        removed: Mapping[int, Sequence[int]],
        written: Sequence[Unit],
        bodies: Sequence[str],
        sids: Mapping[str, int],
    ) -> None:
        """Draw a new lexical version of each scope written; postings held in memory follow the write.

        ``removed`` holds rows by scope number, ``sids`` the numbers of the scopes written.
        """
        written_in: dict[str, list[int]] = {}
        for n, unit in enumerate(written):
            written_in.setdefault(unit.scope, []).append(n)
        keys = {sid: scope for scope, sid in sids.items()}
        for sid in set(removed) - set(keys):  # a unit rewritten under another scope left that one
            keys[sid] = conn.execute("SELECT key FROM scopes WHERE id = ?", (sid,)).fetchone()[0]
        for sid, scope in sorted(keys.items()):
            if sid not in removed and scope not in written_in:
                continue
            before, after = _next_version(conn, "lexical_versions", sid)
            units = [written[n] for n in written_in.get(scope, [])]
            texts = [bodies[n] for n in written_in.get(scope, [])]
            change = functools.partial(_written_postings, conn, sid, units, texts, removed.get(sid, ()))
            self._postings.follow(scope, before, after, change)

    def _ids_of_rows(self, sid: int, rows: Sequence[int]) -> dict[int, str]:
        found: dict[int, str] = {}
        for chunk in _chunks(rows):
            # ``+scope``: found by rowid, the scope checked on each row (not a scan of its index).
            sql = f"SELECT rowid, id FROM units WHERE rowid IN ({','.join('?' * len(chunk))}) AND +scope = ?"
            found.update(self._tuples(sql, [*chunk, sid]))
        return found

    # -- the tantivy tier of large scopes --------------------------------------------------------------
    def _current_lexicon(self, scope: str, sid: int) -> ScopeLexicon | None:
        """The scope's tantivy indexes if they hold every committed change of its units, else ``None``."""
        # One statement reads the tier and the log in one snapshot.
        rows = self._tuples(
            "SELECT folder, applied, EXISTS (SELECT 1 FROM lexical_log WHERE scope = ?) FROM lexical_scopes "
            "WHERE scope = ?",
            [sid, sid],
        )
        if not rows or rows[0][1] == 0 or rows[0][2] or self._lost(rows[0][0]):
            return None
        folder, applied, _ = rows[0]
        lexicon = self._lexicon(scope, folder, applied)
        lexicon.follow(applied)
        return lexicon

    def _lost(self, folder: str) -> bool:
        """Whether a scope's index folder is gone from disk (removed by hand): FTS5 serves it until rebuilt."""
        return self._lexicon_root is not None and not (self._lexicon_root / folder).is_dir()

    def _lexicon(self, scope: str, folder: str, applied: int) -> ScopeLexicon:
        with self._lexicons_lock:
            lexicon = self._lexicons.get(scope)
            if lexicon is None or lexicon.name != folder:
                path = None if self._lexicon_root is None else self._lexicon_root / folder
                lexicon = self._lexicons[scope] = ScopeLexicon(folder, path, applied)
            return lexicon

    def drain_lexical(self) -> None:
        """Apply the lexical log to the tantivy indexes (after a commit, and on open).

        Runs in a write transaction, so no other writer logs or drains in between. A drain that
        fails leaves the log as it was: searches read FTS5, and the next write drains again.
        """
        self._lexical_pending = False
        try:
            with self.transaction() as conn:
                tier = conn.execute(
                    "SELECT l.scope, s.key, l.folder, l.applied, l.scope IN (SELECT scope FROM lexical_log) "
                    "FROM lexical_scopes AS l JOIN scopes AS s ON s.id = l.scope"
                ).fetchall()
                for sid, scope, folder, applied, logged in tier:
                    if applied and self._lost(folder):  # rebuilt in a new folder, which every process opens anew
                        folder, applied = secrets.token_hex(8), 0
                        conn.execute("UPDATE lexical_scopes SET folder = ?, applied = 0 WHERE scope = ?", (folder, sid))
                    if applied == 0 or logged:
                        self._drain_scope(conn, self._lexicon(scope, folder, applied), sid, applied)
                self._remove_lexicons_of_gone_scopes(conn)
        except Exception as exc:  # the write that logged these has committed: report, do not fail it
            logger.warning("tantivy index not updated (%s); its scopes are searched in FTS5 until the next write", exc)

    def _drain_scope(self, conn: sqlite3.Connection, lexicon: ScopeLexicon, sid: int, applied: int) -> None:
        columns = "SELECT rowid, kind, text, context, lexical FROM units"
        if applied == 0:  # joined the tier: built from all of its units, a chunk at a time
            cursor = conn.execute(f"{columns} WHERE scope = ?", (sid,))
            rebuild = True
            while chunk := cursor.fetchmany(MIGRATION_CHUNK * 4):
                lexicon.write((), [_tantivy_entry(*row) for row in chunk], rebuild=rebuild)
                rebuild = False
            if rebuild:
                lexicon.write((), (), rebuild=True)
        else:
            changed = [row for (row,) in conn.execute("SELECT DISTINCT row FROM lexical_log WHERE scope = ?", (sid,))]
            entries: list[LexicalEntry] = []
            for chunk in _chunks(changed):
                marks = ",".join("?" * len(chunk))
                # ``+scope``: found by rowid, the scope checked on each row (not a scan of its index).
                found = conn.execute(f"{columns} WHERE rowid IN ({marks}) AND +scope = ?", [*chunk, sid])
                entries += [_tantivy_entry(*row) for row in found]
            lexicon.write(changed, entries)
        conn.execute("DELETE FROM lexical_log WHERE scope = ?", (sid,))
        conn.execute("UPDATE lexical_scopes SET applied = ? WHERE scope = ?", (applied + 1, sid))
        lexicon.follow(applied + 1)

    def _remove_lexicons_of_gone_scopes(self, conn: sqlite3.Connection) -> None:
        kept = {folder for (folder,) in conn.execute("SELECT folder FROM lexical_scopes")}
        with self._lexicons_lock:
            for scope, lexicon in list(self._lexicons.items()):
                if lexicon.name not in kept:
                    del self._lexicons[scope]
        if self._lexicon_root is not None and self._lexicon_root.is_dir():
            for name in os.listdir(self._lexicon_root):
                if name not in kept:
                    shutil.rmtree(self._lexicon_root / name, ignore_errors=True)

    # -- deletion ------------------------------------------------------------------------------------
    def scopes(self) -> list[str]:
        """Every scope that holds anything."""
        rows = self._rows(
            "SELECT key FROM scopes WHERE id IN (SELECT scope FROM messages UNION SELECT scope FROM cells "
            "UNION SELECT scope FROM profile UNION SELECT scope FROM meta UNION SELECT scope FROM units)"
        )
        return sorted(r["key"] for r in rows)

    def delete_scope(self, scope: str) -> None:
        """Remove everything stored for ``scope``."""
        with self.transaction() as conn:
            self._postings.drop(scope)
            if (sid := self._scope_id(scope)) is None:
                return
            # Its units go while it is in the tier, so their FTS5 entries go too; the drain deletes its indexes.
            self._remove_unit_rows(conn, "scope = ?", (sid,))
            if conn.execute("DELETE FROM lexical_scopes WHERE scope = ?", (sid,)).rowcount:
                conn.execute("DELETE FROM lexical_log WHERE scope = ?", (sid,))
                self._lexical_pending = True
            for table in SCOPED_TABLES:
                conn.execute(f"DELETE FROM {table} WHERE scope = ?", (sid,))
            conn.execute("DELETE FROM scopes WHERE id = ?", (sid,))  # the key goes too

    def find_memory(self, memory_id: str, scope: str | None = None) -> tuple[str, str] | None:
        """``(table, scope)`` of the record with this id (in ``scope`` if given), if any."""
        where = "id = ?" + ("" if scope is None else " AND scope = ?")
        params = [memory_id] + ([] if scope is None else [self._scope_id(scope)])
        for table in ("cells", "facts", "foresight", "profile", "scenes", "messages"):
            rows = self._rows(
                f"SELECT (SELECT key FROM scopes WHERE id = scope) AS scope FROM {table} WHERE {where} LIMIT 1", params
            )
            if rows:
                return table, rows[0]["scope"]
        return None

    def delete_cell(self, scope: str, cell: MemCell) -> None:
        """Delete a MemCell with its facts, foresight and source messages; leave its scene."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM messages WHERE scope = ? AND cell_id = ?", (self._scope_id(scope), cell.id))
            self.detach_cell(scope, cell.id)

    def detach_cell(self, scope: str, cell_id: str) -> list[str]:
        """Delete a MemCell with its facts and foresight; its messages go back to the buffer.

        The MemCell leaves its scene (a scene left empty is deleted). Returns the ids of the
        scenes that lost it and still exist (their keywords may need rebuilding).
        """
        with self.transaction() as conn:
            sid = self._scope_id(scope)
            for table in ("facts", "foresight"):
                conn.execute(f"DELETE FROM {table} WHERE scope = ? AND cell_id = ?", (sid, cell_id))
            conn.execute("UPDATE messages SET cell_id = NULL WHERE scope = ? AND cell_id = ?", (sid, cell_id))
            conn.execute("DELETE FROM cells WHERE scope = ? AND id = ?", (sid, cell_id))
            kept, emptied = scenes_without(self.scenes(scope), cell_id)
            for scene, centroid in kept:
                self.save_scene(scene, centroid)
            conn.executemany("DELETE FROM scenes WHERE id = ?", [(scene_id,) for scene_id in emptied])
        return [scene.id for scene, _ in kept]

    def delete_messages(self, scope: str, ids: Sequence[str]) -> None:
        """Delete stored messages by id (callers handle what was drawn from them)."""
        with self.transaction() as conn:
            sid = self._scope_id(scope)
            conn.executemany("DELETE FROM messages WHERE scope = ? AND id = ?", [(sid, i) for i in ids])

    def message_cell(self, scope: str, message_id: str) -> str | None:
        """The MemCell a stored message was cut into (``None`` while it is buffered)."""
        rows = self._rows(
            "SELECT cell_id FROM messages WHERE scope = ? AND id = ?", [self._scope_id(scope), message_id]
        )
        return rows[0]["cell_id"] if rows else None

    def facts_superseded_by(self, scope: str, fact_ids: Sequence[str]) -> list[Fact]:
        """Facts that one of ``fact_ids`` superseded."""
        found: list[Fact] = []
        sid = self._scope_id(scope)
        for chunk in _chunks(list(fact_ids)):
            marks = ",".join("?" * len(chunk))
            rows = self._rows(
                f"SELECT {_FACT_READ} FROM {_FACTS} WHERE r.scope = ? AND r.superseded_by IN ({marks})",
                [sid, *chunk],
            )
            found += [from_row(Fact, r, FACT_COLUMNS) for r in rows]
        return found

    def unit_ids_of_kind(self, scope: str, kind: str) -> set[str]:
        """Ids of a scope's units of one kind."""
        rows = self._rows("SELECT id FROM units WHERE scope = ? AND kind = ?", [self._scope_id(scope), kind])
        return {r["id"] for r in rows}

    def rewrite_profile_items(self, items: Sequence[ProfileItem]) -> None:
        """Replace profile entries and the data their units carry (evidence trimmed by a delete)."""
        if not items:
            return
        with self.transaction() as conn:
            self.save_profile_items(items)
            sid = self._interned(conn, items[0].scope)
            metas = self._metadata_of_sources(conn, sid, [p.evidence for p in items])
            conn.executemany(
                "UPDATE units SET data = ?, meta = ? WHERE scope = ? AND id = ?",
                [
                    (orjson.dumps(unit_record(p)).decode(), orjson.dumps(meta).decode(), sid, p.id)
                    for p, meta in zip(items, metas, strict=True)
                ],
            )

    def clear_scene(self, scope: str, scene_id: str) -> None:
        """Detach MemCells from a deleted scene."""
        with self.transaction() as conn:  # in place, as set_cell_scene sets it (an unset field is left out)
            conn.execute(
                "UPDATE cells SET scene_id = NULL WHERE scope = ? AND scene_id = ?",
                (self._scope_id(scope), scene_id),
            )

    def delete_record(self, table: str, scope: str, memory_id: str) -> None:
        """Delete one record row (callers handle what hangs off it)."""
        with self.transaction() as conn:
            conn.execute(f"DELETE FROM {table} WHERE scope = ? AND id = ?", (self._scope_id(scope), memory_id))

    def count(self, table: str, scope: str) -> int:
        """Rows of ``table`` in ``scope``."""
        return int(self._rows(f"SELECT COUNT(*) AS n FROM {table} WHERE scope = ?", [self._scope_id(scope)])[0]["n"])


def exact_vector_blobs(vectors: np.ndarray) -> list[bytes]:
    """Vectors as stored for exact search: unit length, one signed byte per dimension after a float32 scale.

    Each row is scaled so that its largest component is 127 and rounded; a cosine moves by about
    a thousandth. A quarter of float32's bytes (292 instead of 1,152 for 288 dimensions), with
    the same recall at every budget on the LoCoMo, LongMemEval and assistant-chat dev sets.
    A rowid table: WITHOUT ROWID, keyed by scope and id, saved 0.5 % of the bytes and no time.
    """
    rows = normalize(vectors)
    if not len(rows):
        return []
    peaks = np.abs(rows).max(axis=1, keepdims=True)
    scales = np.where(peaks > 0, peaks / 127.0, 1.0).astype(np.float32)
    codes = np.rint(rows / scales).astype(np.int8)
    return [scale.tobytes() + code.tobytes() for scale, code in zip(scales, codes, strict=True)]


def exact_matrix(blobs: Sequence[bytes]) -> np.ndarray:
    """The float32 matrix of stored exact-search vectors (one row each, back to unit length)."""
    if not blobs:
        return np.zeros((0, 0), dtype=np.float32)
    raw = np.frombuffer(b"".join(blobs), dtype=np.uint8).reshape(len(blobs), -1)
    scales = raw[:, :4].copy().view(np.float32)
    return normalize(raw[:, 4:].view(np.int8).astype(np.float32) * scales)


def as_stored(vectors: np.ndarray) -> np.ndarray:
    """Vectors as reading them back from the exact tier gives them: a writer ranks what a reader would."""
    return exact_matrix(exact_vector_blobs(vectors))


def quantized_blob(float32_blob: bytes) -> bytes:
    """An exact vector stored as float32 (layouts before 7) in today's form."""
    return exact_vector_blobs(np.frombuffer(float32_blob, dtype=np.float32)[None, :])[0]


VERSION_MASK = 2**62 - 1
"""Versions are 62-bit: the migration draws them in SQL as ``random() & VERSION_MASK``."""


def new_scope_version() -> int:
    """A fresh version token for a scope's exact vectors, or for its lexical entries.

    Random, not a counter: a deleted scope's row goes with it, and a scope written again under
    the same key must not meet a version a cache still holds.
    """
    return secrets.randbits(VERSION_MASK.bit_length())


def _next_version(conn: sqlite3.Connection, table: str, sid: int) -> tuple[int | None, int]:
    """Draw a scope's next version in ``table`` (``exact_versions``, ``lexical_versions``): ``(before, after)``."""
    found = conn.execute(f"SELECT version FROM {table} WHERE scope = ?", (sid,)).fetchone()
    after = new_scope_version()
    conn.execute(f"INSERT OR REPLACE INTO {table} (scope, version) VALUES (?, ?)", (sid, after))
    return None if found is None else int(found[0]), after


def latest_vector_changes(rows: Iterable[tuple[int, str, str, str, bytes | None]]) -> list[PendingVector]:
    """Outbox rows ``(seq, scope, unit id, kind, vector bytes)`` in commit order, folded to the last change per unit."""
    latest: dict[tuple[str, str], PendingVector] = {}
    for seq, scope, unit_id, kind, blob in rows:
        vector = None if blob is None else np.frombuffer(blob, dtype=np.float32)
        latest.pop((scope, unit_id), None)  # re-inserted last: the unit's place is its latest change
        latest[(scope, unit_id)] = PendingVector(seq, scope, unit_id, kind, vector)
    return list(latest.values())


def scenes_without(
    scenes: Iterable[tuple[MemScene, np.ndarray]], cell_id: str
) -> tuple[list[tuple[MemScene, np.ndarray]], list[str]]:
    """The scenes that held ``cell_id`` once it leaves: those kept (without it) and the ids of those left empty."""
    kept: list[tuple[MemScene, np.ndarray]] = []
    emptied: list[str] = []
    for scene, centroid in scenes:
        if cell_id not in scene.cell_ids:
            continue
        members = [c for c in scene.cell_ids if c != cell_id]
        if members:
            kept.append((scene.model_copy(update={"cell_ids": members}), centroid))
        else:
            emptied.append(scene.id)
    return kept, emptied


def _text(value: object) -> str | None:
    """A record's field as its column holds it: text, or nothing."""
    return value if isinstance(value, str) else None


def _written_postings(
    conn: sqlite3.Connection,
    sid: int,
    units: Sequence[Unit],
    bodies: Sequence[str],
    removed: Sequence[int],
    held: ScopePostings,
    version: int,
) -> ScopePostings:
    """A scope's postings after a write of ``units`` (indexed as ``bodies``) that removed the rows ``removed``."""
    rows: dict[str, int] = {}
    for chunk in _chunks([unit.id for unit in units]):
        marks = ",".join("?" * len(chunk))
        sql = f"SELECT id, rowid FROM units WHERE id IN ({marks}) AND +scope = ?"
        rows.update(conn.execute(sql, [*chunk, sid]))
    entries = [
        PostingEntry(rows[unit.id], unit.id, unit.kind, _text(unit.data.get("subject")), body)
        for unit, body in zip(units, bodies, strict=True)
    ]
    return held.changed(version, removed, sorted(entries))


def _lexical_tokens(scope: str, kind: str) -> tuple[str, str]:
    """The partition and kind tokens an FTS5 entry of a unit holds with its body."""
    return partition_token(scope, kind), f"k{kind}"


def _lexical_entry(
    rowid: int, scope: str, kind: str, text: str, context: str | None, lexical: str | None
) -> tuple[int, str, str, str]:
    """The FTS5 entry of a unit's row, exactly as it was indexed (what the contentless index deletes by)."""
    return (rowid, _lexical_body(text, context, lexical), *_lexical_tokens(scope, kind))


def _tantivy_entry(rowid: int, kind: str, text: str, context: str | None, lexical: str | None) -> LexicalEntry:
    """The tantivy entry of a unit's row: the body FTS5 indexes, in its kinds group."""
    return LexicalEntry(rowid, kind_group(kind), _lexical_body(text, context, lexical))


def _lexical_body(text: str, context: str | None, lexical: str | None) -> str:
    return lexical if lexical is not None else _indexed(text, context)


def vector_key(indexed_text: str) -> int:
    """What names a unit's vector in its scope: units indexing the same text share one (a signed 64-bit digest)."""
    digest = hashlib.blake2b(indexed_text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _indexed(text: str, context: str | None) -> str:
    """A unit's text with its context, as both indexes see it (and the lexical one deletes it by)."""
    return f"{text} {context}" if context else text


Key = TypeVar("Key", str, int)


def _chunks(ids: Sequence[Key], size: int = 500) -> Iterator[list[Key]]:
    """``ids`` in slices that stay under SQLite's limit on bound parameters."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def supersession_of(fact: Fact) -> tuple[str | None, str | None]:
    """A fact's ``superseded_by`` and ``valid_until`` as its unit's record holds them."""
    patch = fact.model_dump(mode="json", include={"superseded_by", "valid_until"})
    return patch["superseded_by"], patch["valid_until"]


def _sources(data: dict[str, Any]) -> list[str]:
    """The messages a unit's record was drawn from (a profile entry's evidence)."""
    return list(data.get("source_message_ids") or data.get("evidence") or [])


def _data_beside_columns(unit: Unit) -> dict[str, Any]:
    """A unit's ``data`` as its row stores it: without what its columns or its MemCell's row hold.

    Those are the subject, the role, its one source message and the scene. Every unit repeated
    them, about 260 of the 4,400 bytes of a stored message; a MemCell that joins a scene no
    longer rewrites each of its units.
    """
    left = dict(unit.data)
    # Left out exactly when the row's columns hold them (as put_units fills them).
    for column in ("subject", "role"):
        if _text(left.get(column)) is not None:
            del left[column]
    if _single_source(unit) is not None:
        del left["source_message_ids"]
    if unit.cell_id is not None:
        left.pop("scene_id", None)
    return left


def _data_with_columns(
    data: dict[str, Any],
    subject: str | None,
    role: str | None,
    message_id: str | None,
    cell_id: str | None,
    scene_id: str | None,
) -> dict[str, Any]:
    """A unit's ``data`` whole again from its row and its MemCell's scene (:func:`_data_beside_columns` undone).

    Rows written before layout 10 are whole already; their copy of the scene gives way to the MemCell's.
    """
    if subject is not None:
        data["subject"] = subject
    if role is not None:
        data["role"] = role
    if message_id is not None:
        data["source_message_ids"] = [message_id]
    if cell_id is not None:
        data.pop("scene_id", None)
        if scene_id is not None:
            data["scene_id"] = scene_id
    return data


def _single_source(unit: Unit) -> str | None:
    """The message a unit was said in, when it comes from exactly one."""
    sources = unit.data.get("source_message_ids") or []
    return sources[0] if len(sources) == 1 else None
