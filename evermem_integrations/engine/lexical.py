"""BM25 of a large scope in tantivy: the ranking FTS5 cannot cut short.

FTS5's ``bm25()`` scores every entry that holds a query term before it sorts, so a search of
a scope of 100,000 units spent 18 ms there, and the partition token that keeps the scope apart
doubles that. tantivy (a Rust engine, the Lucene design) keeps per-block score bounds and
skips blocks that cannot reach the top ``k`` (block-max WAND): about 0.1 ms for the same
query. A scope of :data:`LEXICAL_TIER_UNITS` units or more gets an index of its own (one for
its items, one for its episodes, so the common query is a plain disjunction that WAND
serves); the record store keeps it up to date from a log it writes in the same transaction
as the units (see ``SQLiteRecordStore``), and the scope's FTS5 entries rank it while the index is
behind.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import tantivy

from evermem_integrations.engine.models import KIND_GROUPS

LEXICAL_TIER_UNITS = 10_000
"""Units from which a scope's BM25 is served by tantivy (the size at which its vectors move to Chroma)."""
_TOKENIZER = "evermem"
_GROUPS = tuple(name for name, _ in KIND_GROUPS)
_WRITER_HEAP = 15_000_000
"""Bytes of indexing memory per writer (tantivy's minimum): a drain writes at most a few thousand entries."""


class LexicalEntry(NamedTuple):
    """What tantivy indexes of a unit: the unit row it stands for, its kinds group and its body."""

    row: int
    group: str
    body: str


def _analyzer() -> Any:
    # FTS5's tokenizer here is "porter unicode61 remove_diacritics 2": words of letters and
    # digits, lower-cased, accents folded, English stems (tantivy's is Porter's Snowball revision).
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(255))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def _schema() -> Any:
    builder = tantivy.SchemaBuilder()
    builder.add_integer_field("row", indexed=True, fast=True)
    builder.add_text_field("body", tokenizer_name=_TOKENIZER, index_option="position")
    return builder.build()


class ScopeLexicon:
    """The tantivy indexes of one scope, its episodes and its items, in ``folder`` (in memory if ``None``).

    ``name`` is the folder's name as the record store holds it. Not safe against two writers at
    once: the record store writes it only inside its own write transaction, which one process
    at a time holds.
    """

    def __init__(self, name: str, folder: Path | None, applied: int) -> None:
        self.name = name
        self.folder = folder
        self.applied = applied
        """The store's count of drains this process's readers have seen."""
        self._analyzer = _analyzer()
        self._indexes = {group: self._open(group) for group in _GROUPS}
        self._lock = threading.Lock()

    def _open(self, group: str) -> Any:
        if self.folder is None:
            index = tantivy.Index(_schema())
        else:
            path = self.folder / group
            path.mkdir(parents=True, exist_ok=True)
            index = tantivy.Index(_schema(), path=str(path), reuse=True)
        index.register_tokenizer(_TOKENIZER, self._analyzer)  # not stored with the index
        return index

    def write(self, rows: Iterable[int], entries: Sequence[LexicalEntry], *, rebuild: bool = False) -> None:
        """Forget ``rows`` (or everything, with ``rebuild``), then index ``entries``; each group commits once.

        Forgetting a row before indexing its entry makes a replay after a crash harmless.
        """
        forgotten = list(rows)
        for group, index in self._indexes.items():
            fresh = [entry for entry in entries if entry.group == group]
            if not (fresh or forgotten or rebuild):
                continue
            writer = index.writer(heap_size=_WRITER_HEAP, num_threads=1)
            if rebuild:
                writer.delete_all_documents()
            for row in forgotten:
                writer.delete_documents_by_term("row", row)
            for entry in fresh:
                writer.add_document(tantivy.Document(row=entry.row, body=entry.body))
            writer.commit()
            writer.wait_merging_threads()  # merges finish now: segments do not pile up across drains

    def follow(self, applied: int) -> None:
        """See what the drains up to ``applied`` wrote (another process's among them)."""
        with self._lock:
            if applied != self.applied:
                for index in self._indexes.values():
                    index.reload()
                self.applied = applied

    def search(self, group: str, terms: Sequence[str], limit: int) -> list[tuple[int, float]]:
        """The best ``limit`` unit rows of a group for any of ``terms`` as ``(row, BM25 score)``."""
        index = self._indexes[group]
        clauses = []
        for term in terms:
            tokens = [token for token in self._analyzer.analyze(term) if token]
            if len(tokens) == 1:
                clauses.append((tantivy.Occur.Should, tantivy.Query.term_query(index.schema, "body", tokens[0])))
            elif tokens:  # FTS5 reads a quoted term of several tokens as a phrase
                clauses.append((tantivy.Occur.Should, tantivy.Query.phrase_query(index.schema, "body", tokens)))
        if not clauses or limit <= 0:
            return []
        searcher = index.searcher()
        hits = searcher.search(tantivy.Query.boolean_query(clauses), limit).hits
        rows = searcher.fast_field_values("row", [address for _, address in hits])
        return [(int(row), float(score)) for row, (score, _) in zip(rows, hits, strict=True)]
