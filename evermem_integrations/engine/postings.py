"""BM25 of a small scope in memory: the ranking FTS5 would give, from the scope's own postings.

FTS5's ``bm25()`` weighs each query term by its documents over the whole index, so a small
scope's search walked every other scope's postings of its terms too: on the LongMemEval
bench (60 haystacks in one store) BM25 of one haystack's items took 11.8 ms, 3.3 ms in a
store of that haystack alone. A scope's postings held here rank it in about 0.5 ms whatever
the store holds, with its own statistics: what another tenant stored no longer weighs its terms.

The tokens are FTS5's (``porter unicode61 remove_diacritics 2``: words of letters and digits,
lower-cased, accents of Latin letters folded, Porter's stems) and so is the formula (k1 1.2,
b 0.75, the IDF floored at 1e-6), over every entry of the scope, episodes included, as FTS5
counts its rows. Two known differences, both rare in chats: FTS5 stems a word of non-ASCII
letters byte by byte ("straße" -> "straß", kept whole here), and it reads symbols that
Unicode 6.1 had not assigned (some emoji) as letters.
A scope is read from the record store at its first search, then follows this process's writes:
each write adds a segment, merged with the ones before as they pile up (as a log-structured
index does), and compacted once many of its entries are removed.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import Stemmer

from evermem_integrations.engine.scope_cache import ScopeCache

POSTINGS_CACHE_BYTES = 256 * 2**20
"""Memory the scopes' postings may take; the least recently searched are dropped first."""
MAX_REMOVED_SHARE = 0.25
"""Share of removed entries from which a scope's postings are compacted (its entries numbered anew)."""
_K1 = 1.2
_B = 0.75
_IDF_FLOOR = 1e-6
_ROW_TOKENS = 2
"""FTS5 counts an entry's length over all its columns: its partition and kind tokens beside its body."""
_TOKEN = re.compile(r"[^\W_]+")
_STEMMER = Stemmer.Stemmer("porter")  # Martin Porter's original algorithm, as FTS5's porter tokenizer
_BYTES_A_TERM = 120
"""What a vocabulary entry costs beside its arrays (a dict slot and a short string), for the budget."""
_BYTES_AN_ENTRY = 100
"""What an entry's id costs beside its arrays."""


_ASCII_WORDS = bytes(c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else 32 for c in range(256))
"""Letters lower-cased, digits kept, every other byte a space: an ASCII text's words split on whitespace."""
_LATIN_MARKS = re.compile(r"(?<=[a-z\u00c0-\u024f])[\u0300-\u036f]+")
"""Accents on a Latin letter: what ``remove_diacritics`` folds (``ё`` keeps its diaeresis, ``é`` loses its accent)."""


def _words(text: str) -> list[str]:
    """FTS5's ``unicode61 remove_diacritics 2`` words of ``text``, before stemming."""
    if text.isascii():  # most texts: a byte table does the work of the pattern, at twice its speed
        return text.encode().translate(_ASCII_WORDS).decode().split()
    # Canonical decomposition only, so "½", "²" or "ﬁ" stay as FTS5 keeps them; composed again
    # after the Latin accents come off, so the other scripts' letters stay whole.
    folded = _LATIN_MARKS.sub("", unicodedata.normalize("NFD", text.lower()))
    return _TOKEN.findall(unicodedata.normalize("NFC", folded))


def _stems(words: list[str]) -> list[str]:
    """Porter's stems of ``words``; FTS5 leaves a word of fewer than 3 or more than 64 bytes as it is."""
    stems = _STEMMER.stemWords(words)
    return [stem if 3 <= len(word.encode()) <= 64 else word for word, stem in zip(words, stems, strict=True)]


def lexical_tokens(text: str) -> list[str]:
    """The tokens FTS5 indexes ``text`` as (CJK is segmented before: see ``lexical_text``)."""
    return _stems(_words(text))


class PostingEntry(NamedTuple):
    """What the postings hold of one unit: its row in the record store, id, kind, subject and indexed body."""

    row: int
    unit_id: str
    kind: str
    subject: str | None
    body: str


class _Segment(NamedTuple):
    """Postings of some entries: each term's entries (positions of the scope) and how often it occurs there."""

    terms: dict[str, int]
    """Each term's number, 0, 1, ... in the dict's order."""
    offsets: np.ndarray
    positions: np.ndarray
    frequencies: np.ndarray

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        found = self.terms.get(term)
        if found is None:
            return None
        start, end = self.offsets[found], self.offsets[found + 1]
        return self.positions[start:end], self.frequencies[start:end]

    @property
    def nbytes(self) -> int:
        arrays = self.offsets.nbytes + self.positions.nbytes + self.frequencies.nbytes
        return int(arrays) + _BYTES_A_TERM * len(self.terms)


def _segment(first: int, word_lists: Sequence[Sequence[str]]) -> _Segment:
    """The postings of entries numbered from ``first``, one list of words each (stemmed here)."""
    total = sum(map(len, word_lists))
    if not total:
        return _Segment({}, np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float64))
    # Each distinct word is stemmed once; mapping the words through dicts and arrays keeps the
    # per-token work in C (a scope's first search reads all of it: 5,600 units in ~0.15 s).
    distinct = dict.fromkeys(itertools.chain.from_iterable(word_lists))
    word_id = dict(zip(distinct, range(len(distinct)), strict=True))
    terms: dict[str, int] = {}
    stem_of_word = np.fromiter(
        (terms.setdefault(stem, len(terms)) for stem in _stems(list(distinct))), np.int64, len(distinct)
    )
    words = np.fromiter(map(word_id.__getitem__, itertools.chain.from_iterable(word_lists)), np.int64, total)
    entries = len(word_lists)
    local = np.repeat(np.arange(entries, dtype=np.int64), [len(words) for words in word_lists])
    # One key per (term, entry), sorted by term then entry: unique() counts each term's frequency.
    keys, counts = np.unique(stem_of_word[words] * entries + local, return_counts=True)
    term_of = keys // entries
    offsets = np.zeros(len(terms) + 1, np.int64)
    np.cumsum(np.bincount(term_of, minlength=len(terms)), out=offsets[1:])
    return _Segment(terms, offsets, (keys % entries + first).astype(np.int32), counts.astype(np.float64))


def _merge(segments: Sequence[_Segment], alive: np.ndarray, renumber: np.ndarray | None) -> _Segment:
    """``segments`` as one, without the postings of removed entries (positions mapped by ``renumber``, if given)."""
    # The first segment's terms keep their numbers (the largest, when merging): only the others' are looked up.
    terms: dict[str, int] = dict(segments[0].terms)
    parts_term, parts_position, parts_frequency = [], [], []
    for n, segment in enumerate(segments):
        mapped = (
            np.arange(len(terms), dtype=np.int64)
            if n == 0
            else np.fromiter((terms.setdefault(t, len(terms)) for t in segment.terms), np.int64, len(segment.terms))
        )
        live = alive[segment.positions]
        parts_term.append(np.repeat(mapped, np.diff(segment.offsets))[live])
        parts_position.append(segment.positions[live])
        parts_frequency.append(segment.frequencies[live])
    term_of = np.concatenate(parts_term)
    positions = np.concatenate(parts_position).astype(np.int64)
    if renumber is not None:
        positions = renumber[positions]
    # Each segment's positions ascend within a term and follow the segment before's: a stable
    # sort by term alone keeps them in order.
    order = np.argsort(term_of, kind="stable")
    used = np.bincount(term_of, minlength=len(terms))
    present = np.flatnonzero(used)  # a term only removed entries held is left out
    if len(present) < len(terms):
        names = list(terms)
        terms = {names[n]: k for k, n in enumerate(present)}
    offsets = np.zeros(len(present) + 1, np.int64)
    np.cumsum(used[present], out=offsets[1:])
    return _Segment(
        terms,
        offsets,
        positions[order].astype(np.int32),
        np.concatenate(parts_frequency)[order],
    )


@dataclass(frozen=True)
class ScopePostings:
    """A scope's postings at one version of its units: entries in row order, some removed, in segments."""

    version: int
    rows: np.ndarray
    ids: list[str]
    kinds: np.ndarray
    subjects: list[str | None]
    lengths: np.ndarray
    alive: np.ndarray
    segments: tuple[_Segment, ...]
    _masks: dict[tuple[frozenset[str], frozenset[str] | None], np.ndarray] = field(
        default_factory=dict, init=False, compare=False, repr=False
    )

    @classmethod
    def of(cls, version: int, entries: Sequence[PostingEntry]) -> ScopePostings:
        """The postings of a scope's entries (read in row order)."""
        return EMPTY_POSTINGS.changed(version, (), entries)

    @property
    def nbytes(self) -> int:
        """The memory the postings take (what the cache's budget counts)."""
        arrays = self.rows.nbytes + self.kinds.nbytes + self.lengths.nbytes + self.alive.nbytes
        return int(arrays) + _BYTES_AN_ENTRY * len(self.ids) + sum(s.nbytes for s in self.segments)

    def changed(self, version: int, removed: Collection[int], entries: Sequence[PostingEntry]) -> ScopePostings:
        """The postings after a write: entries of the ``removed`` rows dropped, ``entries`` (newer rows) added."""
        alive = self.alive
        if removed and len(self.rows):
            alive = alive & ~np.isin(self.rows, np.fromiter(removed, np.int64, len(removed)))
        words = [_words(entry.body) for entry in entries]
        segments = self.segments + ((_segment(len(self.ids), words),) if entries else ())
        grown = ScopePostings(
            version,
            np.concatenate([self.rows, np.asarray([e.row for e in entries], np.int64)]),
            self.ids + [e.unit_id for e in entries],
            np.concatenate([self.kinds, np.asarray([e.kind for e in entries], dtype=str)]),
            self.subjects + [e.subject for e in entries],
            np.concatenate([self.lengths, np.asarray([len(w) + _ROW_TOKENS for w in words], np.float64)]),
            np.concatenate([alive, np.ones(len(entries), bool)]),
            segments,
        )
        if len(grown.alive) and grown.alive.mean() < 1 - MAX_REMOVED_SHARE:
            return grown._compacted()
        # Like a binary counter: a segment joins the one before it once that one is no more than
        # twice its size, so a scope of n writes holds about log n segments and each entry is
        # merged about log n times.
        merged = list(segments)
        while len(merged) > 1 and len(merged[-2].positions) <= 2 * len(merged[-1].positions):
            merged[-2:] = [_merge(merged[-2:], grown.alive, None)]
        return dataclasses.replace(grown, segments=tuple(merged)) if len(merged) < len(segments) else grown

    def _compacted(self) -> ScopePostings:
        """The same postings in one segment, the removed entries gone and the others numbered anew."""
        kept = np.flatnonzero(self.alive)
        renumber = np.full(len(self.alive), -1, np.int64)
        renumber[kept] = np.arange(len(kept))
        return ScopePostings(
            self.version,
            self.rows[kept],
            [self.ids[n] for n in kept],
            self.kinds[kept],
            [self.subjects[n] for n in kept],
            self.lengths[kept],
            np.ones(len(kept), bool),
            (_merge(self.segments, self.alive, renumber),),
        )

    def _mask(self, kinds: Collection[str], subjects: frozenset[str] | None) -> np.ndarray:
        key = (frozenset(kinds), subjects)
        mask = self._masks.get(key)
        if mask is None:
            mask = self.alive & np.isin(self.kinds, list(key[0]))
            if subjects is not None:
                mask &= np.asarray([s in subjects for s in self.subjects], bool)
            self._masks[key] = mask
        return mask

    def rank(
        self, terms: Sequence[str], kinds: Collection[str], subjects: frozenset[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(positions, scores)`` of the entries of ``kinds`` (about ``subjects``) matching any term, best first.

        Each term counts once per token it stands for; ties keep row order.
        """
        mask = self._mask(kinds, subjects)
        entries = int(self.alive.sum())
        if not entries or not mask.any():
            return np.zeros(0, np.int64), np.zeros(0, np.float64)
        average = float(self.lengths[self.alive].mean()) or 1.0
        norm = _K1 * (1 - _B + _B * self.lengths / average)
        scores = np.zeros(len(self.ids), np.float64)  # FTS5 sums in double: near ties stay in its order
        for term in terms:
            for token in dict.fromkeys(lexical_tokens(term)):
                found = [p for segment in self.segments if (p := segment.postings(token)) is not None]
                if not found:
                    continue
                positions = np.concatenate([p for p, _ in found])
                frequencies = np.concatenate([f for _, f in found])
                holding = int(self.alive[positions].sum())
                if not holding:
                    continue
                idf = max(float(np.log((entries - holding + 0.5) / (holding + 0.5))), _IDF_FLOOR)
                wanted = mask[positions]
                positions, frequencies = positions[wanted], frequencies[wanted]
                scores[positions] += idf * frequencies * (_K1 + 1) / (frequencies + norm[positions])
        matched = np.flatnonzero(scores)
        order = matched[np.argsort(-scores[matched], kind="stable")]
        return order, scores[order]


EMPTY_POSTINGS = ScopePostings(
    0,
    np.zeros(0, np.int64),
    [],
    np.zeros(0, dtype=str),
    [],
    np.zeros(0, np.float64),
    np.zeros(0, bool),
    (),
)
"""A scope that holds no units."""


class PostingsCache(ScopeCache[ScopePostings]):
    """Scopes' postings held in memory, following this process's writes.

    A scope new to the store starts from no postings and is tokenized as it is written, so that
    its first search does not read it all (a LongMemEval haystack: 0.2-0.7 s). A scope that held
    units before this process wrote it is read at its first search here.
    """

    def __init__(self, budget: int = POSTINGS_CACHE_BYTES) -> None:
        super().__init__(budget, EMPTY_POSTINGS)
