"""Typed errors raised by EverMem.

Every error says what to fix. They derive from :class:`EverMemError` (and from
``ValueError`` where the caller passed a bad value) so callers can catch them
precisely or broadly.
"""

from __future__ import annotations


class EverMemError(Exception):
    """Base class of every error raised by evermem-integrations."""


class InvalidMessageError(EverMemError, ValueError):
    """A message cannot be stored (empty or non-string content, bad timestamp, too long)."""


class InvalidTimestampError(InvalidMessageError):
    """A timestamp is in none of the accepted forms (ISO 8601, epoch s/ms, human date)."""


class ScopeError(EverMemError, ValueError):
    """A call names no scope (``user_id``, ``group_id`` or ``agent_id``) or an invalid one."""


class InvalidFilterError(EverMemError, ValueError):
    """A filter names an unknown field or operator, or has a value of the wrong type."""


class NotFoundError(EverMemError, KeyError):
    """A memory id does not exist in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "not found"


class ConfigurationError(EverMemError, ValueError):
    """The engine was configured inconsistently (e.g. both ``path`` and ``client``)."""


class StoreVersionError(EverMemError):
    """The store on disk was written by a version of this package with another layout."""


class ExtractionError(EverMemError):
    """The LLM backend returned output that failed validation after all retries."""


class LLMUnavailableError(EverMemError):
    """An operation needs an LLM (e.g. ``method="agentic"``) but none is configured."""


class StoreBusyError(EverMemError):
    """The embedded store is open in another process (embedded Chroma serves one process)."""
