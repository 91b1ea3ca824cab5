"""Typed errors raised by EverMem, in three groups.

Every error says what to fix. Catch one precisely, or a group:

* :class:`InputError` (also a ``ValueError``): the caller passed something unusable:
  :class:`InvalidMessageError` (with :class:`InvalidTimestampError`), :class:`ScopeError`,
  :class:`InvalidFilterError`, :class:`InvalidQueryError`, :class:`ConfigurationError`;
* :class:`StoreError`: the stores cannot serve the call: :class:`StoreVersionError`,
  :class:`StoreBusyError`, :class:`StoreUnavailableError`;
* :class:`LLMError`: the LLM path: :class:`LLMUnavailableError` (with :class:`LLMRefusedError`
  and :class:`LLMPausedError`), :class:`ExtractionError`.

:class:`NotFoundError` (also a ``KeyError``) stands alone. Errors of the libraries underneath
(Chroma, sqlite3, openai, pydantic) are mapped to these at the boundary.
"""

from __future__ import annotations


class EverMemError(Exception):
    """Base class of every error raised by evermem-integrations."""


class InputError(EverMemError, ValueError):
    """An argument of a public call is unusable; nothing was stored."""


class InvalidMessageError(InputError):
    """A message cannot be stored (empty or non-string content, bad timestamp, too long, bad metadata)."""


class InvalidTimestampError(InvalidMessageError):
    """A timestamp is in none of the accepted forms (ISO 8601, epoch s/ms, human date)."""


class ScopeError(InputError):
    """A call names no scope (``user_id``, ``group_id`` or ``agent_id``) or an invalid one."""


class InvalidFilterError(InputError):
    """A filter names an unknown field or operator, or has a value of the wrong type."""


class InvalidQueryError(InputError):
    """A search or browse argument is unusable (query, token budget, method, kinds, limit, ids)."""


class ConfigurationError(InputError):
    """The engine was configured inconsistently (e.g. both ``chroma_url`` and ``chroma_client``)."""


class NotFoundError(EverMemError, KeyError):
    """A memory id does not exist in the store."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else "not found"


class StoreError(EverMemError):
    """The record store or the vector index cannot serve the call."""


class StoreVersionError(StoreError):
    """The store on disk was written by a version of this package with another layout."""


class StoreBusyError(StoreError):
    """The embedded store is open in another process (embedded Chroma serves one process)."""


class StoreUnavailableError(StoreError):
    """A store failed underneath (a Chroma server away, a disk error); what was committed stays."""


class LLMError(EverMemError):
    """The LLM path failed in a way the offline fallback could not cover."""


class ExtractionError(LLMError):
    """The LLM backend returned output that failed validation after all retries."""


class LLMUnavailableError(LLMError):
    """An operation needs an LLM (e.g. ``method="agentic"``) but none is configured or reachable."""


class LLMRefusedError(LLMUnavailableError):
    """The endpoint is up but refuses the request's shape (a ``response_format``, a field); it is not retried."""


class LLMPausedError(LLMUnavailableError):
    """The LLM failed repeatedly and is left alone for a while (circuit breaker); the offline backend stands in."""
