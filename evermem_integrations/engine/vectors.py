"""The vector index: exact search in the record store for small scopes, Chroma for large ones.

A scope of up to :data:`EXACT_SCOPE_VECTORS` vectors is searched exactly where its records are
(:class:`TieredVectorIndex`); a larger one moves to Chroma, embedded (a local folder) or a
server (``chroma run``). In Chroma, scopes share a fixed number of collection pairs
(:data:`SHARDS`), one collection for episode narratives and one for everything else (facts,
buffered messages, foresight, profile entries); a hash of the scope picks the pair and every
request is filtered by the scope held in each vector's metadata. A collection per scope (the
layout before) cost each scope its own segment files (four of five files of a store of small
scopes) and a cold first query of about 34 ms per collection; the scope filter costs less
than loading a segment, and a shard's segments stay loaded across scopes. Ids, vectors and
what filters are pushed down to (kind, time, subject, MemCell and the source messages'
metadata, see ``engine/filters.py``) live in Chroma; texts and records live in the record
store. We always pass our own embeddings, so Chroma's default embedding function (which
downloads a model on first use) is never called.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import re
import shutil
import sqlite3
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, overload
from urllib.parse import urlparse

import numpy as np

from evermem_integrations.engine.filters import MATCH_ALL, Filter, both, is_empty, split_subjects, to_chroma
from evermem_integrations.engine.models import EPISODE_KINDS, ITEM_KINDS, KIND_GROUPS, kind_group
from evermem_integrations.engine.protocols import RecordStore
from evermem_integrations.engine.records import ExactVectors, UnitKeys, as_stored, exact_matrix
from evermem_integrations.engine.scope_cache import ScopeCache
from evermem_integrations.errors import ConfigurationError, EverMemError, StoreBusyError, StoreUnavailableError

SHARDS = 8
"""Collection pairs the scopes are spread over (fixed for a store: a scope's shard is a hash of it)."""
SCOPE_KEY = "scope"
"""The metadata field holding a vector's scope."""
_OLD_NAME = re.compile(r"[0-9a-f]{20}-(episodes|items)")
"""A per-scope collection of the layout before the shards, after the prefix."""
_DELETE_OPERATION = 3
"""``operation`` of a delete in Chroma's ``embeddings_queue`` (ADD 0, UPDATE 1, UPSERT 2, DELETE 3)."""


class VectorIndex(Protocol):
    """What the engine needs from a vector store."""

    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        scope: str,
        kinds: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Insert or replace vectors of one scope (``metadatas``: what filters read, one per id)."""
        ...

    def query(
        self, vector: np.ndarray, scope: str, kinds: Sequence[str], limit: int, where: Filter | None = None
    ) -> list[tuple[str, float]]:
        """Nearest units of ``scope`` as ``(id, cosine similarity)``, best first.

        ``where`` narrows the search to units that may pass the filter: exactly, or (Chroma) by
        what of it the index can judge; the engine judges every memory again.
        """
        ...

    def update_metadata(
        self, scope: str, ids: Sequence[str], kinds: Sequence[str], metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        """Rewrite the metadata of stored vectors (ids not stored are ignored)."""
        ...

    def delete(self, scope: str, ids: Sequence[str]) -> None:
        """Remove vectors of a scope by id."""
        ...

    def delete_scope(self, scope: str) -> None:
        """Remove every vector of a scope."""
        ...

    def drop(self) -> None:
        """Remove the whole index (used for in-memory engines on close)."""
        ...

    def held_keys(self, scope: str) -> Mapping[str, UnitKeys] | None:
        """The keys of the scope's units the index holds in memory with their vectors (``None``: none held)."""
        ...


Method = TypeVar("Method", bound=Callable[..., Any])


def chroma_errors(method: Method) -> Method:
    """Raise :class:`StoreUnavailableError` for whatever Chroma (or its HTTP client) raises."""

    @functools.wraps(method)
    def mapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except EverMemError:
            raise
        except Exception as exc:
            raise StoreUnavailableError(
                f"the vector index (Chroma) failed in {method.__name__}: {type(exc).__name__}: {str(exc)[:300]}; "
                "with chroma_url, check that `chroma run` serves that address"
            ) from exc

    return mapped  # type: ignore[return-value]


def is_served(client: Any) -> bool:
    """Whether a Chroma client talks to a server (``chroma run``) rather than an index in this process."""
    settings = getattr(client, "get_settings", None)
    return settings is not None and settings().chroma_api_impl == "chromadb.api.fastapi.FastAPI"


def chroma_client(path: str | Path | None = None, url: str | None = None) -> Any:
    """Build a Chroma client for an embedded folder, a server URL, or in memory."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url is not None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigurationError(f"chroma_url must look like 'http://127.0.0.1:8000', got {url!r}")
        try:
            return chromadb.HttpClient(
                host=parsed.hostname,
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=settings,
            )
        except Exception as exc:
            # Something answered but not as Chroma does (a web page on that port, another API):
            # its heartbeat is not Chroma's JSON, and the page itself is no use in the message.
            import urllib.error
            import urllib.request

            heartbeat = f"{parsed.scheme}://{parsed.netloc}/api/v2/heartbeat"
            try:
                with urllib.request.urlopen(heartbeat, timeout=5) as reply:  # noqa: S310 (http/https checked)
                    chroma = b"heartbeat" in reply.read(4096)
                    answer = None if chroma else f"HTTP {reply.status}, {reply.headers.get_content_type()}"
            except urllib.error.HTTPError as error:
                answer = f"HTTP {error.code}, {error.headers.get_content_type()}"
            except (OSError, ValueError):
                answer = None  # nothing answers there
            if answer is not None:
                raise StoreUnavailableError(
                    f"{url} is not a Chroma server (GET /api/v2/heartbeat answered {answer}, not Chroma's JSON): "
                    "point chroma_url at a `chroma run --path DIR --port PORT` server"
                ) from exc
            detail = " ".join(str(exc).split())[:200]
            raise StoreUnavailableError(
                f"cannot reach the Chroma server at {url} ({type(exc).__name__}: {detail}): "
                "start one with `chroma run --path DIR --port PORT`, or fix chroma_url"
            ) from exc
    if path is None:
        return chromadb.EphemeralClient(settings=settings)
    EmbeddedStoreLock.acquire(Path(path))
    return chromadb.PersistentClient(path=str(path), settings=settings)


class EmbeddedStoreLock:
    """One process at a time on an embedded Chroma folder.

    Embedded Chroma keeps its index in the memory of the process that opened it: a second
    process writing the same folder does not see the first one's writes and corrupts or
    loses them. An advisory lock (released by the OS when the process dies, even by kill -9)
    turns that into a clear error. Instances within one process share the lock.
    """

    _held: ClassVar[dict[Path, int]] = {}
    _guard: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def acquire(cls, folder: Path) -> None:
        """Take the folder's lock for this process, or raise :class:`StoreBusyError`."""
        folder.mkdir(parents=True, exist_ok=True)
        key = folder.resolve()
        with cls._guard:
            if key in cls._held:
                return
            fd = os.open(key / "evermem.lock", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise StoreBusyError(
                    f"the embedded store {folder.parent} is open in another process, and embedded Chroma serves "
                    "one process only: run a Chroma server (`chroma run --path DIR`) and pass "
                    "chroma_url='http://127.0.0.1:8000' in every process (the SQLite side store may stay shared)"
                ) from None
            cls._held[key] = fd


def _digest(scope: str) -> str:
    return hashlib.sha1(scope.encode(), usedforsecurity=False).hexdigest()


class ChromaVectorIndex:
    """A :class:`VectorIndex` over a fixed set of shared cosine collections.

    A scope's vectors live in one of :data:`SHARDS` collection pairs (episodes, items),
    picked by a hash of the scope; each vector carries its scope in its metadata and every
    query, update and delete is filtered by it, so tenants never see each other. Chroma ids
    are the unit ids behind a tag of the scope (``<tag>:<unit id>``): ids given by an import
    may repeat across scopes. Per-scope collections (the layout before) cost each scope its
    own segment files and a cold first query; stores written that way are moved over on open
    (:meth:`migrate`).
    """

    def __init__(self, client: Any, prefix: str = "evermem") -> None:
        self.client = client
        self.prefix = prefix
        self._collections: dict[str, Any] = {}
        self._alone: dict[tuple[str, str], bool] = {}
        """Whether a scope's last search of a group came back all its own (by group and scope tag)."""
        self._batch = int(client.get_max_batch_size())
        self.migrate()

    def _name(self, scope: str, group: str) -> str:
        shard = int(_digest(scope)[:8], 16) % SHARDS
        return f"{self.prefix}-{group}-{shard:02d}"

    @staticmethod
    def _tag(scope: str) -> str:
        return _digest(scope)[:16] + ":"

    def _collection(self, scope: str, group: str) -> Any:
        name = self._name(scope, group)
        if name not in self._collections:
            self._collections[name] = self.client.get_or_create_collection(
                name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
            )
        return self._collections[name]

    @staticmethod
    def _groups(kinds: Sequence[str]) -> list[tuple[str, list[int]]]:
        """Row numbers of ``kinds`` per collection group (episodes apart from the rest)."""
        rows: dict[str, list[int]] = {"episodes": [], "items": []}
        for n, kind in enumerate(kinds):
            rows[kind_group(kind)].append(n)
        return [(group, found) for group, found in rows.items() if found]

    @chroma_errors
    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        scope: str,
        kinds: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Upsert (not add) so that re-running an ingestion is idempotent."""
        tag = self._tag(scope)
        embeddings = np.asarray(vectors, dtype=np.float32)
        for group, rows in self._groups(kinds):
            collection = self._collection(scope, group)
            for start in range(0, len(rows), self._batch):
                chunk = rows[start : start + self._batch]
                collection.upsert(
                    ids=[tag + ids[n] for n in chunk],
                    embeddings=embeddings[chunk],
                    metadatas=[
                        {**(metadatas[n] if metadatas else {"kind": kinds[n]}), SCOPE_KEY: scope} for n in chunk
                    ],
                )

    @chroma_errors
    def update_metadata(
        self, scope: str, ids: Sequence[str], kinds: Sequence[str], metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        """Rewrite stored vectors' metadata (Chroma ignores ids it does not hold)."""
        tag = self._tag(scope)
        for group, rows in self._groups(kinds):
            collection = self._collection(scope, group)
            for start in range(0, len(rows), self._batch):
                chunk = rows[start : start + self._batch]
                collection.update(
                    ids=[tag + ids[n] for n in chunk], metadatas=[{**metadatas[n], SCOPE_KEY: scope} for n in chunk]
                )

    @chroma_errors
    def query(
        self, vector: np.ndarray, scope: str, kinds: Sequence[str], limit: int, where: Filter | None = None
    ) -> list[tuple[str, float]]:
        """Nearest neighbours inside one scope; a kind filter only for a subset of kinds, ``where`` with it."""
        pushed = None if where is None else to_chroma(where)
        wanted = set(kinds) or (EPISODE_KINDS | ITEM_KINDS)
        tag = self._tag(scope)
        embedding = np.asarray(vector, dtype=np.float32)[None, :]
        found: list[tuple[str, float]] = []
        for group, group_kinds in KIND_GROUPS:
            selected = wanted & group_kinds
            if not selected:
                continue
            by_kind = None if selected == group_kinds else {"kind": {"$in": sorted(selected)}}
            rest = both(by_kind, pushed)
            collection = self._collection(scope, group)
            # Chroma's scope filter costs more the more vectors it admits (8x the search on a
            # scope of 10,000 facts): a scope that fills its shard is served by an unfiltered
            # search kept to the scope's own vectors, others fall back to the filter. The search
            # asks for twice the limit, or for the limit once one came back all of the scope's
            # own (alone in its shard: 0.97 against 1.25 ms at 10,000 facts).
            alone = (group, tag)
            probe = limit if self._alone.get(alone) else limit * 2
            result = collection.query(query_embeddings=embedding, n_results=probe, where=rest, include=["distances"])
            # The id's tag names the scope: no metadata to fetch and decode.
            found_ids = result["ids"][0]
            own = [(i, d) for i, d in zip(found_ids, result["distances"][0], strict=True) if i.startswith(tag)]
            self._alone[alone] = len(own) == len(found_ids)
            if len(own) < limit and len(found_ids) == probe:  # the scope's vectors may lie further out
                result = collection.query(
                    query_embeddings=embedding,
                    n_results=limit,
                    where=both({SCOPE_KEY: scope}, rest),
                    include=["distances"],
                )
                own = list(zip(result["ids"][0], result["distances"][0], strict=True))
            found += [(i.removeprefix(tag), 1.0 - float(d)) for i, d in own[:limit]]
        return sorted(found, key=lambda pair: pair[1], reverse=True)[:limit]

    @chroma_errors
    def delete(self, scope: str, ids: Sequence[str]) -> None:
        """Delete in batches (Chroma caps a request's size) from both collections.

        Ids are deduplicated first: Chroma refuses a delete that names an id twice.
        """
        tagged = [self._tag(scope) + i for i in dict.fromkeys(ids)]
        for group in ("episodes", "items"):
            collection = self._collection(scope, group)
            for start in range(0, len(tagged), self._batch):
                collection.delete(ids=tagged[start : start + self._batch])

    @chroma_errors
    def delete_scope(self, scope: str) -> None:
        """Delete every vector of the scope, and (embedded Chroma) their entries in the write-ahead log.

        The log is searched too: it still holds vectors deleted earlier (e.g. buffered messages
        cut into a MemCell) that no query finds any more.
        """
        tag = self._tag(scope)
        doomed: list[str] = self._logged(tag)
        for group in ("episodes", "items"):
            collection = self._collection(scope, group)
            ids = collection.get(where={SCOPE_KEY: scope}, include=[])["ids"]
            for start in range(0, len(ids), self._batch):
                collection.delete(ids=ids[start : start + self._batch])
            doomed += ids
        self.purge_log(scope, [i.removeprefix(tag) for i in doomed])

    def _logged(self, tag: str) -> list[str]:
        """Ids with ``tag`` in embedded Chroma's write-ahead log (none for a server or in memory)."""
        folder = self._persist_directory()
        if folder is None or not (folder / "chroma.sqlite3").exists():
            return []
        with closing(sqlite3.connect(f"file:{folder / 'chroma.sqlite3'}?mode=ro", uri=True, timeout=30)) as conn:
            # A tag is hex and a colon: nothing LIKE reads as a wildcard.
            rows = conn.execute("SELECT DISTINCT id FROM embeddings_queue WHERE id LIKE ?", (f"{tag}%",)).fetchall()
        return [str(r[0]) for r in rows]

    @chroma_errors
    def migrate(self) -> int:
        """Move the vectors of per-scope collections (the layout before) into the shards; returns scopes moved.

        Each old collection is copied (ids, vectors, metadata) and then dropped with its segment
        folders: a crash in between leaves the old collection, copied again on the next open
        (upserts are idempotent).
        """
        moved = 0
        for listed in self.client.list_collections():
            name = listed if isinstance(listed, str) else listed.name
            if not name.startswith(f"{self.prefix}-") or not _OLD_NAME.fullmatch(name[len(self.prefix) + 1 :]):
                continue
            old = self.client.get_collection(name, embedding_function=None)
            scope = (old.metadata or {}).get(SCOPE_KEY)
            if not isinstance(scope, str):
                continue
            total = old.count()
            for offset in range(0, total, self._batch):
                rows = old.get(include=["embeddings", "metadatas"], limit=self._batch, offset=offset)
                if rows["ids"]:
                    metadatas = [m or {} for m in rows["metadatas"]]
                    self.upsert(
                        rows["ids"],
                        np.asarray(rows["embeddings"], dtype=np.float32),
                        scope,
                        [str(m.get("kind", "episode" if name.endswith("-episodes") else "fact")) for m in metadatas],
                        metadatas,
                    )
            self._drop_collection(name, str(old.id))
            moved += 1
        return moved

    def _drop_collection(self, name: str, collection_id: str) -> None:
        """Delete a collection and (embedded Chroma) its segment folders on disk.

        ``delete_collection`` of embedded Chroma 1.x removes the collection's rows from
        ``chroma.sqlite3`` (records, write-ahead log, segments) but leaves the HNSW segment
        folders ``<path>/<segment uuid>/`` with the vectors in them.
        """
        folder = self._persist_directory()
        segments = self._segment_ids(folder, collection_id) if folder is not None else []
        self.client.delete_collection(name)
        self._collections.pop(name, None)
        for segment in segments:
            target = folder / segment if folder is not None else None
            if target is not None and target.parent == folder and target.is_dir():
                shutil.rmtree(target, ignore_errors=True)

    def purge_log(self, scope: str, ids: Sequence[str]) -> int:
        """Remove deleted ids' entries from embedded Chroma's write-ahead log; returns rows removed.

        Embedded Chroma keeps every write in ``embeddings_queue`` until the collection's HNSW
        index is persisted (every ``hnsw:sync_threshold`` writes, 1,000 by default): after a
        delete by id, the upserts of the deleted vectors are still there. Call after
        :meth:`delete`. Rows are removed only when replaying the log without them gives the
        same index: all rows of the ids while the HNSW index has never been persisted; after
        it has, the rows not yet applied to it except the delete markers (an id, no vector),
        which the persisted index still needs. Ids present again (re-derived) are left alone.
        A server (``chroma run``) is not reached: see the README.
        """
        folder = self._persist_directory()
        unique = list(dict.fromkeys(ids))
        if folder is None or not unique or not (folder / "chroma.sqlite3").exists():
            return 0
        tag = self._tag(scope)
        unique = [tag + i for i in unique]
        collections = [self._collection(scope, group) for group in ("episodes", "items")]
        removed = 0
        with closing(sqlite3.connect(folder / "chroma.sqlite3", timeout=30)) as conn, conn:
            for collection in collections:
                collection_id = str(collection.id)
                live: set[str] = set()  # ids re-added since (a re-derived fact): their log stays
                for start in range(0, len(unique), self._batch):
                    live.update(collection.get(ids=unique[start : start + self._batch], include=[])["ids"])
                doomed = [i for i in unique if i not in live]
                marks = {
                    kind: seq
                    for kind, seq in conn.execute(
                        "SELECT s.scope, m.seq_id FROM segments s JOIN max_seq_id m ON m.segment_id = s.id "
                        "WHERE s.collection = ?",
                        (collection_id,),
                    )
                }
                applied = min(marks.values()) if len(marks) >= 2 else -1  # applied to every segment
                persisted = marks.get("VECTOR")
                for start in range(0, len(doomed), 500):
                    chunk = doomed[start : start + 500]
                    # Only placeholders are formatted in: every value is a bound parameter.
                    where = f"topic LIKE ? AND id IN ({','.join('?' * len(chunk))})"
                    params: list[Any] = [f"%/{collection_id}", *chunk]
                    if persisted is None:
                        cursor = conn.execute(f"DELETE FROM embeddings_queue WHERE {where}", params)  # noqa: S608
                    else:
                        cursor = conn.execute(
                            f"DELETE FROM embeddings_queue WHERE {where} AND (seq_id <= ? OR operation != ?)",  # noqa: S608
                            [*params, applied, _DELETE_OPERATION],
                        )
                    removed += cursor.rowcount
        return removed

    def _persist_directory(self) -> Path | None:
        """The folder of an embedded persistent client (``None`` for a server or in memory)."""
        try:
            settings = self.client.get_settings()
        except Exception:  # a client without settings: not one we can purge
            return None
        if not getattr(settings, "is_persistent", False):
            return None
        directory = getattr(settings, "persist_directory", None)
        return Path(directory).resolve() if directory else None

    @staticmethod
    def _segment_ids(folder: Path, collection_id: str) -> list[str]:
        """Segment ids of a collection, read from ``chroma.sqlite3``."""
        database = folder / "chroma.sqlite3"
        if not database.exists():
            return []
        with closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)) as conn:
            rows = conn.execute("SELECT id FROM segments WHERE collection = ?", (collection_id,)).fetchall()
        return [str(r[0]) for r in rows if str(r[0]) and "/" not in str(r[0]) and ".." not in str(r[0])]

    @chroma_errors
    def drop(self) -> None:
        """Delete every collection of this index."""
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if name.startswith(f"{self.prefix}-"):
                self.client.delete_collection(name)
        self._collections.clear()

    def held_keys(self, scope: str) -> Mapping[str, UnitKeys] | None:
        """Chroma keeps no unit keys in memory: the record store is read."""
        return None


EXACT_SCOPE_VECTORS = 10_000
"""Vectors a scope holds before it moves from exact search in the record store to Chroma's HNSW index.

Below it, a scope's vectors are written in the record store's own transaction (no Chroma call,
no HNSW insert, no segment to load or keep on disk) and a search ranks them all, from a matrix
kept in memory that this process's own writes change in place (a write by another process
means one read of the scope again: about 20 ms for 6,000 vectors of 256 dimensions). Ranking
10,000 vectors exactly takes about a millisecond, less than Chroma's filtered HNSW search, and
recalls every neighbour; a LongMemEval haystack (about 7,000 vectors) ingests twice as fast
here as in Chroma (89 -> 181 msg/s).
"""
MATRIX_CACHE_BYTES = 256 * 2**20
"""Memory the exact scopes' matrices may take; the least recently searched are dropped first."""


@dataclass(frozen=True)
class ScopeMatrix:
    """A scope's exact vectors as one matrix (rows in id order), at one version of them."""

    version: int
    ids: list[str]
    kinds: list[str]
    keys: list[UnitKeys]
    matrix: np.ndarray
    rows_of_kind: dict[str, np.ndarray]
    rows_of_subject: dict[str | None, np.ndarray]

    @classmethod
    def of(cls, version: int, held: ExactVectors) -> ScopeMatrix:
        """The matrix of rows read from the record store, with each kind's and subject's row numbers."""
        subjects = [keys.subject for keys in held.keys]
        return cls(version, held.ids, held.kinds, held.keys, held.matrix, _rows_of(held.kinds), _rows_of(subjects))

    @property
    def nbytes(self) -> int:
        """The memory the matrix takes (what the cache's budget counts)."""
        return int(self.matrix.nbytes)

    @cached_property
    def keys_by_id(self) -> dict[str, UnitKeys]:
        """Each row's unit keys by id (made at the first search that ranks by them)."""
        return dict(zip(self.ids, self.keys, strict=True))

    def rows(self, kinds: Sequence[str], subjects: frozenset[str] | None) -> np.ndarray | None:
        """Row numbers of ``kinds`` about ``subjects`` in id order (``None``: every row)."""
        found = _rows_among(self.rows_of_kind, set(kinds) if kinds else None)
        if subjects is None:
            return found
        about = _rows_among(self.rows_of_subject, set(subjects))
        if found is None or about is None:
            return about if found is None else found
        return np.intersect1d(found, about, assume_unique=True)

    def changed(self, version: int, removed: Sequence[str], put: ExactVectors | None = None) -> ScopeMatrix:
        """The matrix after a write: ``removed`` dropped, ``put`` written (replacing rows of the same ids).

        The rows are the ones the record store now holds, in id order, as reading it would give.
        """
        added = put or ExactVectors([], [], [], exact_matrix([]))
        gone = set(removed) | set(added.ids)
        kept = [n for n, unit_id in enumerate(self.ids) if unit_id not in gone]
        ids = [self.ids[n] for n in kept] + added.ids
        kinds = [self.kinds[n] for n in kept] + added.kinds
        keys = [self.keys[n] for n in kept] + added.keys
        parts = ([self.matrix[kept]] if kept else []) + ([added.matrix] if added.ids else [])
        order = sorted(range(len(ids)), key=ids.__getitem__)
        matrix = np.concatenate(parts)[order] if parts else exact_matrix([])
        return ScopeMatrix.of(
            version,
            ExactVectors([ids[n] for n in order], [kinds[n] for n in order], [keys[n] for n in order], matrix),
        )


_Key = TypeVar("_Key", str, str | None)


def _rows_of(values: Sequence[_Key]) -> dict[_Key, np.ndarray]:
    rows: dict[_Key, list[int]] = {}
    for n, value in enumerate(values):
        rows.setdefault(value, []).append(n)
    return {value: np.asarray(found) for value, found in rows.items()}


def _rows_among(rows_of: Mapping[Any, np.ndarray], wanted: set[Any] | None) -> np.ndarray | None:
    """Row numbers of the values ``wanted``, in order (``None``: every row)."""
    if wanted is None or wanted >= set(rows_of):
        return None
    found = [rows_of[v] for v in wanted if v in rows_of]
    return np.sort(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)


NO_VECTORS = ScopeMatrix.of(0, ExactVectors([], [], [], exact_matrix([])))
"""What a scope that holds no exact vectors is: the matrix its first write is applied to."""


class MatrixCache(ScopeCache[ScopeMatrix]):
    """Scopes' matrices held in memory, the least recently searched dropped first past ``budget`` bytes.

    A write to a scope that held no vectors starts from :data:`NO_VECTORS`: it is never read back.
    """

    def __init__(self, budget: int) -> None:
        super().__init__(budget, NO_VECTORS)


def top_rows(scores: np.ndarray, limit: int) -> np.ndarray:
    """The rows of the ``limit`` best scores, best first, ties in row order: the head of a stable sort.

    Sorting every row of a scope costs more than its matrix product (0.7 of 0.9 ms at 10,000
    vectors); only the rows that can be among the best are sorted.
    """
    if limit >= len(scores):
        return np.argsort(-scores, kind="stable")
    threshold = np.partition(scores, len(scores) - limit)[len(scores) - limit]
    contenders = np.flatnonzero(scores >= threshold)  # in row order, every tie at the threshold kept
    return contenders[np.argsort(-scores[contenders], kind="stable")][:limit]


class Ranking(Sequence[tuple[str, float]]):
    """A scope's rows by falling score, made ``(id, score)`` pairs only as they are read.

    A filtered search reads a ranking until enough pass, most often a few hundred of thousands.
    """

    def __init__(self, ids: list[str], rows: np.ndarray | None, scores: np.ndarray, order: np.ndarray) -> None:
        self._ids = ids
        self._rows = rows
        self._scores = scores
        self._order = order

    def __len__(self) -> int:
        return len(self._order)

    def _pair(self, position: int) -> tuple[str, float]:
        row = position if self._rows is None else int(self._rows[position])
        return self._ids[row], float(self._scores[position])

    @overload
    def __getitem__(self, index: int) -> tuple[str, float]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, float]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, float] | list[tuple[str, float]]:
        if isinstance(index, slice):
            return [self._pair(int(n)) for n in self._order[index]]
        return self._pair(int(self._order[index]))


class TieredVectorIndex:
    """A :class:`VectorIndex`: small scopes searched exactly in the record store, large ones in ``index``.

    Most scopes of a store of many users hold a few hundred vectors; the record store keeps
    them (``exact_vectors``) and a search ranks them all by cosine. A scope that grows past
    ``exact_limit`` vectors moves to ``index`` (Chroma) once, inside the write that crossed the
    limit, and stays there (``indexed_scopes``). ``exact_limit=0`` moves every scope to
    ``index`` at its first write. The matrices of recently searched scopes stay in memory; a
    version token the record store changes with every write of a scope's vectors (by any
    process) tells when one must be read again.
    """

    def __init__(
        self,
        records: RecordStore,
        index: VectorIndex,
        exact_limit: int = EXACT_SCOPE_VECTORS,
        cache_bytes: int = MATRIX_CACHE_BYTES,
    ) -> None:
        if isinstance(exact_limit, bool) or not isinstance(exact_limit, int) or exact_limit < 0:
            raise ConfigurationError(f"exact_search_vectors must be a whole number, 0 or more, got {exact_limit!r}")
        self.records = records
        self.index = index
        self.exact_limit = exact_limit
        self._matrices = MatrixCache(cache_bytes)

    def _indexed(self, scope: str) -> bool:
        # The store says where a scope's vectors are, not this instance's limit: a store written
        # with one limit is read right with another.
        return self.records.indexed_scope(scope)

    def upsert(
        self,
        ids: Sequence[str],
        vectors: np.ndarray,
        scope: str,
        kinds: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        """Write to the scope's tier; a scope that crosses the limit moves to the index with these.

        Without ``metadatas`` the index is given the units' as the record store holds them; the
        exact tier needs none (it judges filters on the record store's rows).
        """
        if self._indexed(scope):
            self.index.upsert(
                ids, vectors, scope, kinds, metadatas if metadatas is not None else self._metadata(scope, ids, kinds)
            )
            return
        with self.records.transaction():
            write = self.records.put_exact_vectors(scope, ids, kinds, vectors)
            if write.held <= self.exact_limit:

                def put(held: ScopeMatrix, version: int) -> ScopeMatrix:  # built only for a held matrix
                    # The units' keys as reading the scope would join them (their rows are written
                    # first); a unit gone since holds no vector there.
                    found = self.records.unit_keys(scope, ids)
                    rows = [n for n, unit_id in enumerate(ids) if unit_id in found]
                    written = ExactVectors(
                        [ids[n] for n in rows],
                        [kinds[n] for n in rows],
                        [found[ids[n]] for n in rows],
                        as_stored(vectors[rows]),
                    )
                    return held.changed(version, (), written)

                self._matrices.follow(scope, write.before, write.after, put)
                return
            held = self.records.exact_vectors(scope)
            self.index.upsert(held.ids, held.matrix, scope, held.kinds, self._metadata(scope, held.ids, held.kinds))
            self.records.mark_indexed(scope)
        self._matrices.drop(scope)  # searched in the index from now on

    def _metadata(self, scope: str, ids: Sequence[str], kinds: Sequence[str]) -> list[Mapping[str, Any]]:
        """What the index's filters read of each unit, as committed (only its kind for a unit not stored)."""
        payloads = self.records.vector_metadata(scope, ids)
        return [payloads.get(i, (k, {"kind": k}))[1] for i, k in zip(ids, kinds, strict=True)]

    def query(
        self, vector: np.ndarray, scope: str, kinds: Sequence[str], limit: int, where: Filter | None = None
    ) -> list[tuple[str, float]]:
        """Exact cosine ranking of a small scope (``where`` judged exactly), else the index's search."""
        held = self._matrix(scope)  # a scope searched exactly has a version; one in the index has none
        if held is None:
            return self.index.query(vector, scope, kinds, limit, where) if self._indexed(scope) else []
        query = np.asarray(vector, dtype=np.float32)
        norm = float(np.linalg.norm(query))
        if norm == 0 or limit <= 0 or not held.ids:
            return []
        # Who a unit is about is held with its vector: the asker lookups' filter is judged here.
        subjects, rest = split_subjects(where) if where is not None else (None, MATCH_ALL)
        scores = held.matrix @ (query / norm)  # every row: cheaper than copying the kinds' rows out
        rows = held.rows(kinds, subjects)
        if rows is not None:
            scores = scores[rows]
        if not len(scores):
            return []
        if is_empty(rest):
            return Ranking(held.ids, rows, scores, top_rows(scores, limit))[:limit]
        ranking = Ranking(held.ids, rows, scores, np.argsort(-scores, kind="stable"))  # ties in id order
        return self.records.passing(scope, ranking, rest, limit)

    def _matrix(self, scope: str) -> ScopeMatrix | None:
        """The scope's exact vectors, from memory while their version holds (``None``: it holds none)."""
        version = self.records.exact_version(scope)
        if version is None:
            return None
        held = self._matrices.get(scope, version)
        if held is not None:
            return held
        # Read after the version: vectors written meanwhile are newer than it, and the next
        # search, seeing another version, reads them again.
        held = ScopeMatrix.of(version, self.records.exact_vectors(scope))
        self._matrices.put(scope, held)
        return held

    def held_keys(self, scope: str) -> Mapping[str, UnitKeys] | None:
        """The keys of the scope's units from its matrix, if memory holds it at the current version.

        ``None`` when it does not: its vectors are not read for their keys (a lexical-only search,
        a scope too big for the cache), the record store is asked for the candidates' keys alone.
        """
        version = self.records.exact_version(scope)
        held = None if version is None else self._matrices.get(scope, version)
        return None if held is None else held.keys_by_id

    def update_metadata(
        self, scope: str, ids: Sequence[str], kinds: Sequence[str], metadatas: Sequence[Mapping[str, Any]]
    ) -> None:
        """Only the index keeps metadata: exact search reads the units' own rows."""
        if self._indexed(scope):
            self.index.update_metadata(scope, ids, kinds, metadatas)

    def delete(self, scope: str, ids: Sequence[str]) -> None:
        """Remove vectors from the scope's tier."""
        if self._indexed(scope):
            self.index.delete(scope, ids)
        else:
            write = self.records.delete_exact_vectors(scope, ids)
            self._matrices.follow(scope, write.before, write.after, lambda held, version: held.changed(version, ids))

    def delete_scope(self, scope: str) -> None:
        """Remove every vector of the scope from both tiers.

        The index is asked whatever the tier: a scope's deletion removes its records first, the
        note that it moved to the index with them.
        """
        self.records.delete_exact_vectors(scope, None)
        self._matrices.drop(scope)
        self.index.delete_scope(scope)

    def purge_log(self, scope: str, unit_ids: Sequence[str]) -> None:
        """Purge deleted vectors from the index's write-ahead log, if it keeps one."""
        purge = getattr(self.index, "purge_log", None)
        if purge is not None and self._indexed(scope):
            purge(scope, unit_ids)

    def drop(self) -> None:
        """Remove the index (the record store's vectors go with the record store)."""
        self._matrices.drop()
        self.index.drop()
