"""The floor of the scale benchmark: hybrid search built from best-in-class parts.

Over the same units, embeddings and queries as EverMem's search, the floor ranks with
tantivy's BM25 (a Rust engine with top-k early termination) and hnswlib with Chroma's HNSW
defaults (M=16, ef=100, cosine), fuses the two rankings by reciprocal rank fusion and packs
the best into the same token budget with the engine's own packer. It has no episode prior,
subject prior, supersession or sibling expansion: its latency is what the parts cost, and the
benchmark reports EverMem's latency as a multiple of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tantivy

from evermem_integrations.engine.embeddings import Embedder
from evermem_integrations.engine.models import SearchItem
from evermem_integrations.engine.recollection import RecollectionConfig, pack, ranking, rrf
from evermem_integrations.engine.records import Unit
from evermem_integrations.engine.text import lexical_text, query_terms
from evermem_integrations.errors import ConfigurationError

HNSW_M = 16
HNSW_EF = 100
"""Chroma's defaults for ``hnsw:M``, ``hnsw:construction_ef`` and ``hnsw:search_ef``."""
INSTALL_HINT = 'pip install "evermem-integrations[bench]"'


def _hnswlib() -> Any:
    try:
        import hnswlib
    except ImportError as exc:
        raise ConfigurationError(f"the scale benchmark's floor needs hnswlib: {INSTALL_HINT}") from exc
    return hnswlib


class FloorIndex:
    """A lexical and a dense index over one scope's units, grown with :meth:`add`."""

    def __init__(self, embedder: Embedder, config: RecollectionConfig | None = None) -> None:
        self._hnswlib = _hnswlib()
        self.embedder = embedder
        self.config = config or RecollectionConfig()
        builder = tantivy.SchemaBuilder()
        builder.add_integer_field("row", stored=True, fast=True)
        builder.add_text_field("body", tokenizer_name="en_stem")
        self._schema = builder.build()
        self._lexical = tantivy.Index(self._schema)  # in memory
        self._dense: Any = None
        self.units: list[Unit] = []
        self._by_id: dict[str, Unit] = {}

    def add(self, units: Sequence[Unit], batch: int = 10_000) -> None:
        """Index units not indexed yet (the text as BM25 sees it, the vector of the same text)."""
        fresh = [u for u in units if u.id not in self._by_id]
        if not fresh:
            return
        writer = self._lexical.writer(heap_size=256_000_000)
        for offset, unit in enumerate(fresh, start=len(self.units)):
            writer.add_document(self._document(offset, unit))
        writer.commit()
        writer.wait_merging_threads()
        self._lexical.reload()
        vectors = np.concatenate(
            [self.embedder.embed([u.indexed_text for u in fresh[s : s + batch]]) for s in range(0, len(fresh), batch)]
        )
        total = len(self.units) + len(fresh)
        if self._dense is None:
            self._dense = self._hnswlib.Index(space="cosine", dim=vectors.shape[1])
            self._dense.init_index(max_elements=total, M=HNSW_M, ef_construction=HNSW_EF)
            self._dense.set_ef(HNSW_EF)
        else:
            self._dense.resize_index(total)
        self._dense.add_items(vectors, np.arange(len(self.units), total))
        self.units.extend(fresh)
        self._by_id.update((u.id, u) for u in fresh)

    def _document(self, row: int, unit: Unit) -> Any:
        return tantivy.Document(row=row, body=lexical_text(unit.indexed_text))

    def search(self, query: str, token_budget: int) -> tuple[list[SearchItem], str]:
        """The packed context for ``query``: BM25 and dense rankings, RRF, the engine's packer."""
        n = min(self.config.candidates, len(self.units))
        if n == 0:
            return [], ""
        rankings: list[list[str]] = []
        terms = " ".join(query_terms(query))
        if terms.strip():
            searcher = self._lexical.searcher()
            hits = searcher.search(self._lexical.parse_query(terms, ["body"]), n).hits
            # Equal scores ordered as the engine orders them (by id), so a tie cannot decide the comparison.
            rankings.append(
                ranking([(self.units[searcher.doc(address)["row"][0]].id, score) for score, address in hits])
            )
        vector = self.embedder.embed([query])
        if np.any(vector):
            labels, distances = self._dense.knn_query(vector, k=n)
            rankings.append(
                ranking(
                    [(self.units[int(label)].id, -float(d)) for label, d in zip(labels[0], distances[0], strict=True)]
                )
            )
        scores = rrf(rankings, self.config.rrf_k)
        items = [
            SearchItem(
                id=unit_id,
                kind=self._by_id[unit_id].kind,  # type: ignore[arg-type]
                text=self._by_id[unit_id].text,
                score=score,
                timestamp=self._by_id[unit_id].timestamp,
            )
            for unit_id, score in sorted(scores.items(), key=lambda pair: pair[1], reverse=True)
        ]
        chosen, context, _ = pack(items, token_budget)
        return chosen, context
