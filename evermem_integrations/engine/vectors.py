"""The vector index: Chroma, embedded (a local folder) or a server (``chroma run``).

Only ids, vectors and the two partition fields live in Chroma; texts and records live in
the record store. We always pass our own embeddings, so Chroma's default embedding
function (which downloads a model on first use) is never called.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np

from evermem_integrations.errors import ConfigurationError


class VectorIndex(Protocol):
    """What the engine needs from a vector store."""

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, scope: str, kinds: Sequence[str]) -> None:
        """Insert or replace vectors of one scope."""
        ...

    def query(self, vector: np.ndarray, scope: str, kinds: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """Nearest units of ``scope`` as ``(id, cosine similarity)``, best first."""
        ...

    def delete(self, ids: Sequence[str]) -> None:
        """Remove vectors by id."""
        ...

    def delete_scope(self, scope: str) -> None:
        """Remove every vector of a scope."""
        ...

    def drop(self) -> None:
        """Remove the whole index (used for in-memory engines on close)."""
        ...


def chroma_client(path: str | Path | None = None, url: str | None = None, client: Any = None) -> Any:
    """Build the Chroma client for an embedded folder, a server URL, or pass one through."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if client is not None:
        return client
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
    return chromadb.PersistentClient(path=str(path), settings=settings)


class ChromaVectorIndex:
    """A :class:`VectorIndex` over one Chroma collection with cosine distance."""

    def __init__(self, client: Any, collection_name: str = "evermem_units") -> None:
        self.client = client
        self.collection = client.get_or_create_collection(
            collection_name, embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
        )
        self._batch = int(client.get_max_batch_size())

    def upsert(self, ids: Sequence[str], vectors: np.ndarray, scope: str, kinds: Sequence[str]) -> None:
        """Upsert (not add) so that re-running an ingestion is idempotent."""
        for start in range(0, len(ids), self._batch):
            stop = start + self._batch
            self.collection.upsert(
                ids=list(ids[start:stop]),
                embeddings=np.asarray(vectors[start:stop], dtype=np.float32),
                metadatas=[{"scope": scope, "kind": kind} for kind in kinds[start:stop]],
            )

    def query(self, vector: np.ndarray, scope: str, kinds: Sequence[str], limit: int) -> list[tuple[str, float]]:
        """Filtered nearest-neighbour search inside one scope."""
        where: dict[str, Any] = {"scope": scope}
        if kinds:
            where = {"$and": [{"scope": scope}, {"kind": {"$in": list(kinds)}}]}
        result = self.collection.query(
            query_embeddings=np.asarray(vector, dtype=np.float32)[None, :],
            n_results=limit,
            where=where,
            include=["distances"],
        )
        return [(i, 1.0 - float(d)) for i, d in zip(result["ids"][0], result["distances"][0], strict=True)]

    def delete(self, ids: Sequence[str]) -> None:
        """Delete in batches (Chroma caps a request's size)."""
        for start in range(0, len(ids), self._batch):
            self.collection.delete(ids=list(ids[start : start + self._batch]))

    def delete_scope(self, scope: str) -> None:
        """Delete by the scope field, which catches vectors the record store lost track of."""
        self.collection.delete(where={"scope": scope})

    def drop(self) -> None:
        """Delete the collection."""
        self.client.delete_collection(self.collection.name)
