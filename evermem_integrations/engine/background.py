"""Cutting and extraction off the request path: one worker thread per engine.

With ``EverMem(background=True)`` an ``add`` stores its messages in the scope's buffer (where
they are searchable at once) and returns; this worker then cuts and extracts the scopes that
changed, one unit of work at a time, through the same write path as a synchronous ``add``.
Nothing pending lives only here: the buffer is persisted, so work a stop leaves undone is
picked up again when the store is opened next.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class BackgroundCutter:
    """A daemon thread running ``cut(scope)`` for every scope submitted, each scope once per wake-up.

    Args:
        cut: cuts and extracts one scope's buffer (``IngestPipeline.cut``).

    """

    def __init__(self, cut: Callable[[str], object]) -> None:
        self._cut = cut
        self._pending: dict[str, None] = {}  # insertion-ordered set: scopes in the order they changed
        self._running: str | None = None
        self._closed = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="evermem-background", daemon=True)
        self._thread.start()

    def submit(self, scope: str) -> None:
        """Have ``scope``'s buffer cut soon (a scope already waiting is not queued twice)."""
        with self._changed:
            if self._closed:
                return
            self._pending[scope] = None
            self._changed.notify_all()

    def wait(self, scope: str | None = None, timeout: float | None = None) -> bool:
        """Block until ``scope`` (or every scope) has no pending work; False if ``timeout`` passed first."""

        def idle() -> bool:
            if scope is None:
                return not self._pending and self._running is None
            return scope not in self._pending and self._running != scope

        with self._changed:
            return self._changed.wait_for(idle, timeout)

    def close(self) -> None:
        """Finish the unit of work under way and stop; what is still queued stays in the buffer."""
        with self._changed:
            self._closed = True
            self._pending.clear()
            self._changed.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._closed or bool(self._pending))
                if self._closed:
                    return
                scope = next(iter(self._pending))
                del self._pending[scope]
                self._running = scope
            try:
                self._cut(scope)
            except Exception:
                # The messages stay buffered and searchable; the next add or flush cuts them.
                logger.exception("background cutting of scope %s failed; its messages stay buffered", scope)
            finally:
                with self._changed:
                    self._running = None
                    self._changed.notify_all()
