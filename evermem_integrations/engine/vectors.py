"""The vector index: Chroma, embedded (a local folder) or a server (``chroma run``).

Each scope gets its own Chroma collections, one for episode narratives and one for
everything else (facts, buffered messages, foresight, profile entries). A tenant is thus
a physical partition, and the common query needs no metadata filter (a ``where`` filter
costs Chroma about 9 ms a query, more than the search itself). Only ids, vectors and the
kind live in Chroma; texts and records live in the record store. We always pass our own
embeddings, so Chroma's default embedding function (which downloads a model on first use)
is never called.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Protocol
from urllib.parse import urlparse

import numpy as np

from evermem_integrations.engine.models import EPISODE_KINDS, ITEM_KINDS, KIND_GROUPS
from evermem_integrations.errors import ConfigurationError, StoreBusyError


class VectorIndex(Protocol):
    """What the engine needs from a vector store."""

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, scope: str, kinds: Sequence[str]) -> None:
        """Insert or replace vectors of one scope."""
        ...

    def query(self, vector: np.ndarray, scope: str, kinds: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """Nearest units of ``scope`` as ``(id, cosine similarity)``, best first."""
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


def chroma_client(path: str | Path | None = None, url: str | None = None) -> Any:
    """Build a Chroma client for an embedded folder, a server URL, or in memory."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url is not None:
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ConfigurationError(f"chroma_url must look like 'http://127.0.0.1:8000', got {url!r}")
        return chromadb.HttpClient(
            host=parsed.hostname,
            port=parsed.port or (443 if parsed.scheme == "https" else 8000),
            ssl=parsed.scheme == "https",
            settings=settings,
        )
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


class ChromaVectorIndex:
    """A :class:`VectorIndex` with two cosine collections per scope."""

    def __init__(self, client: Any, prefix: str = "evermem") -> None:
        self.client = client
        self.prefix = prefix
        self._collections: dict[str, Any] = {}
        self._batch = int(client.get_max_batch_size())

    def _name(self, scope: str, group: str) -> str:
        return f"{self.prefix}-{hashlib.sha1(scope.encode(), usedforsecurity=False).hexdigest()[:20]}-{group}"

    def _collection(self, scope: str, group: str, *, create: bool) -> Any | None:
        name = self._name(scope, group)
        if name not in self._collections:
            if create:
                self._collections[name] = self.client.get_or_create_collection(
                    name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"scope": scope},
                )
            else:
                try:
                    self._collections[name] = self.client.get_collection(name, embedding_function=None)
                except Exception:  # chromadb raises NotFoundError (or ValueError on older servers)
                    return None
        return self._collections[name]

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, scope: str, kinds: Sequence[str]) -> None:
        """Upsert (not add) so that re-running an ingestion is idempotent."""
        for group in ("episodes", "items"):
            rows = [n for n, kind in enumerate(kinds) if (kind in EPISODE_KINDS) == (group == "episodes")]
            if not rows:
                continue
            collection = self._collection(scope, group, create=True)
            assert collection is not None  # created when missing
            for start in range(0, len(rows), self._batch):
                chunk = rows[start : start + self._batch]
                collection.upsert(
                    ids=[ids[n] for n in chunk],
                    embeddings=np.asarray(vectors, dtype=np.float32)[chunk],
                    metadatas=[{"kind": kinds[n]} for n in chunk],
                )

    def query(self, vector: np.ndarray, scope: str, kinds: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """Nearest neighbours inside one scope; a ``where`` filter only for a subset of kinds."""
        wanted = set(kinds) or (EPISODE_KINDS | ITEM_KINDS)
        found: list[tuple[str, float]] = []
        for group, group_kinds in KIND_GROUPS:
            selected = wanted & group_kinds
            collection = self._collection(scope, group, create=False) if selected else None
            if collection is None:
                continue
            where = None if selected == group_kinds else {"kind": {"$in": sorted(selected)}}
            result = collection.query(
                query_embeddings=np.asarray(vector, dtype=np.float32)[None, :],
                n_results=limit,
                where=where,
                include=["distances"],
            )
            found += [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)]
        return sorted(found, key=lambda pair: pair[1], reverse=True)[:limit]

    def delete(self, scope: str, ids: Sequence[str]) -> None:
        """Delete in batches (Chroma caps a request's size) from both collections."""
        for group in ("episodes", "items"):
            collection = self._collection(scope, group, create=False)
            for start in range(0, len(ids), self._batch):
                if collection is not None:
                    collection.delete(ids=list(ids[start : start + self._batch]))

    def delete_scope(self, scope: str) -> None:
        """Drop the scope's collections."""
        for group in ("episodes", "items"):
            name = self._name(scope, group)
            self._collections.pop(name, None)
            if self._collection(scope, group, create=False) is not None:
                self._collections.pop(name, None)
                self.client.delete_collection(name)

    def drop(self) -> None:
        """Delete every collection of this index."""
        for collection in self.client.list_collections():
            name = collection if isinstance(collection, str) else collection.name
            if name.startswith(f"{self.prefix}-"):
                self.client.delete_collection(name)
        self._collections.clear()
