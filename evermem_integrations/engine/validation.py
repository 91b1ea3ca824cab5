"""Checks of public arguments, raising the typed errors of :mod:`evermem_integrations.errors`.

Each check either returns the value in the type the engine works with or raises an
:class:`~evermem_integrations.errors.InputError` naming the argument and what to pass, so no
error of a library underneath (sqlite3, Chroma, pydantic) reaches a caller for bad input.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import orjson

from evermem_integrations.errors import InvalidMessageError, InvalidQueryError

MAX_ID_CHARS = 256
"""The longest message id, sender or memory id accepted."""
MAX_QUERY_CHARS = 32_000
"""The longest search query accepted."""
MAX_TOKEN_BUDGET = 1_000_000
"""The largest ``token_budget`` accepted (far beyond any model's context)."""
MAX_METADATA_BYTES = 64_000
"""The largest message ``metadata`` accepted, as JSON."""

# Characters that show nothing: content made only of these (and white space) says nothing.
_INVISIBLE = frozenset({"Cc", "Cf", "Zs", "Zl", "Zp", "Mn"})
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a lone surrogate, which no encoding can store."""
    return _SURROGATE.search(text) is not None


def identifier(value: object, what: str, error: type[Exception] = InvalidMessageError) -> str:
    """A usable id or name: a non-blank string of at most :data:`MAX_ID_CHARS`, no control characters."""
    if not isinstance(value, str) or not value.strip():
        raise error(f"{what} must be a non-empty string, got {_show(value)}")
    if len(value) > MAX_ID_CHARS:
        raise error(f"{what} has {len(value):,} characters, more than {MAX_ID_CHARS}; shorten it")
    if has_lone_surrogate(value) or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise error(f"{what} {_show(value)} holds a control character or a lone surrogate; remove it")
    return value


def shows_nothing(text: str) -> bool:
    """Whether ``text`` is only white space or invisible characters (a zero-width space, say)."""
    return all(unicodedata.category(ch) in _INVISIBLE for ch in text)


def content(value: str) -> str:
    """Message content that says something and can be stored."""
    if has_lone_surrogate(value):
        raise InvalidMessageError("message content holds a lone surrogate (broken UTF-16); fix the text's encoding")
    if shows_nothing(value):
        raise InvalidMessageError("message content is empty (only white space or invisible characters)")
    return value


def metadata(
    value: object, what: str = "message metadata", error: type[Exception] = InvalidMessageError
) -> dict[str, Any]:
    """A JSON-ready dict with string keys, at most :data:`MAX_METADATA_BYTES` as JSON."""
    if not isinstance(value, Mapping):
        raise error(f"{what} must be a dict, got {type(value).__name__}")
    try:
        encoded = orjson.dumps(dict(value))
    except TypeError as exc:
        raise error(
            f"{what} must be JSON-ready (strings, numbers, booleans, lists, dicts with string keys): {exc}"
        ) from None
    if len(encoded) > MAX_METADATA_BYTES:
        raise error(f"{what} takes {len(encoded):,} bytes as JSON, more than {MAX_METADATA_BYTES:,}")
    return dict(value)


def query(value: object) -> str:
    """A search query: non-blank text of at most :data:`MAX_QUERY_CHARS`."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidQueryError(f"search query must be a non-empty string, got {_show(value)}")
    if len(value) > MAX_QUERY_CHARS:
        raise InvalidQueryError(f"search query has {len(value):,} characters, more than {MAX_QUERY_CHARS:,}")
    if has_lone_surrogate(value):
        raise InvalidQueryError("search query holds a lone surrogate (broken UTF-16); fix the text's encoding")
    return value


def count(value: object, what: str, *, minimum: int, maximum: int | None = None) -> int:
    """An integer argument (not a bool) within bounds."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidQueryError(f"{what} must be an integer, got {_show(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        bounds = f"at least {minimum}" + (f" and at most {maximum:,}" if maximum is not None else "")
        raise InvalidQueryError(f"{what} must be {bounds}, got {value}")
    return value


def token_budget(value: object) -> int | None:
    """``None`` (the default budget) or a positive token count."""
    return None if value is None else count(value, "token_budget", minimum=1, maximum=MAX_TOKEN_BUDGET)


def choice(value: object, what: str, allowed: Collection[str]) -> str:
    """One of ``allowed`` (a search method, a kind to browse)."""
    if not isinstance(value, str) or value not in allowed:
        raise InvalidQueryError(f"{what} must be one of {', '.join(sorted(allowed))}; got {_show(value)}")
    return value


def choices(value: object, what: str, allowed: Collection[str]) -> list[str] | None:
    """``None`` (the default) or a non-empty list drawn from ``allowed`` (memory kinds to rank)."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Sequence | Collection):
        raise InvalidQueryError(f"{what} must be a list such as {sorted(allowed)[:2]}, got {_show(value)}")
    items = list(value)
    if not items or any(not isinstance(k, str) or k not in allowed for k in items):
        raise InvalidQueryError(f"{what} must name some of {', '.join(sorted(allowed))}; got {_show(items)}")
    return items


def message_ids(value: object) -> frozenset[str] | None:
    """``None`` or a collection of message ids (a single string is refused: it is not a set of ids)."""
    if value is None:
        return None
    if isinstance(value, str | bytes) or not isinstance(value, Collection):
        raise InvalidQueryError(f"exclude_message_ids must be a list or set of ids, got {_show(value)}")
    if not all(isinstance(v, str) for v in value):
        raise InvalidQueryError("exclude_message_ids must hold strings only")
    return frozenset(value)


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."
