"""Snapshots of scopes held in memory at the version a store draws with each write of them.

The exact vector matrices and the in-memory BM25 postings of small scopes are both read once
from the record store, then changed in place by this process's own writes; a write by another
process changes the stored version, and the next search reads the scope again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Generic, Protocol, TypeVar


class Versioned(Protocol):
    """A scope's snapshot: the version of the scope it holds, and the memory it takes."""

    @property
    def version(self) -> int:
        """The scope's version this snapshot holds."""
        ...

    @property
    def nbytes(self) -> int:
        """The memory it takes, as the cache's budget counts it."""
        ...


Snapshot = TypeVar("Snapshot", bound=Versioned)


class ScopeCache(Generic[Snapshot]):
    """Scopes' snapshots, the least recently used dropped first past ``budget`` bytes.

    ``empty`` is what a scope that held nothing is: a write to a new scope starts from it, so
    the scope is never read back (``None``: only scopes already held follow writes).
    Thread-safe: searches read it while this process's writes change it.
    """

    def __init__(self, budget: int, empty: Snapshot | None = None) -> None:
        self.budget = budget
        self.empty = empty
        self._held: OrderedDict[str, Snapshot] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._held)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._held))

    def __getitem__(self, scope: str) -> Snapshot:
        return self._held[scope]

    def get(self, scope: str, version: int) -> Snapshot | None:
        """The scope's snapshot if held at ``version``."""
        with self._lock:
            held = self._held.get(scope)
            if held is None or held.version != version:
                return None
            self._held.move_to_end(scope)
            return held

    def put(self, scope: str, snapshot: Snapshot) -> None:
        """Hold ``snapshot`` as the scope's, most recently used."""
        with self._lock:
            self._put(scope, snapshot)

    def _put(self, scope: str, snapshot: Snapshot) -> None:
        self._pop(scope)
        self._held[scope] = snapshot
        self._bytes += snapshot.nbytes
        while len(self._held) > 1 and self._bytes > self.budget:
            self._bytes -= self._held.popitem(last=False)[1].nbytes

    def _pop(self, scope: str) -> None:
        gone = self._held.pop(scope, None)
        if gone is not None:
            self._bytes -= gone.nbytes

    def drop(self, scope: str | None = None) -> None:
        """Forget the scope's snapshot (``None``: every one)."""
        with self._lock:
            if scope is not None:
                self._pop(scope)
            else:
                self._held.clear()
                self._bytes = 0

    def follow(
        self,
        scope: str,
        before: int | None,
        after: int | None,
        change: Callable[[Snapshot, int], Snapshot] | None,
    ) -> None:
        """Apply this process's write (the scope's version ``before`` -> ``after``) instead of reading it again.

        A snapshot at the version the write replaced is changed (``before=None``: the scope held
        nothing, and starts from ``empty``); at any other version another write came between, and
        the snapshot is dropped. A write whose transaction rolls back leaves the store at a
        version the snapshot no longer has: the next search reads it.
        """
        with self._lock:
            base = self.empty if before is None else self._held.get(scope)
            if base is not None and before is not None and base.version != before:
                base = None
            if change is None or after is None or base is None:
                self._pop(scope)
            else:
                self._put(scope, change(base, after))
