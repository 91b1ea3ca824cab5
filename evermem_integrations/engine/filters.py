"""Filters for ``search`` and ``get``: one language, parsed once, applied in three places.

A filter is a dict in the style of MongoDB and Chroma's ``where``::

    {"channel": "slack"}                                  # equality on message metadata
    {"channel": {"$in": ["slack", "email"]}, "kind": "fact"}   # several keys: all must hold
    {"$or": [{"thread": "t1"}, {"timestamp": {"$gte": "2025-01-01"}}]}

Operators: ``$eq`` (a bare value), ``$ne``, ``$in``, ``$nin``, ``$gt``, ``$gte``, ``$lt``,
``$lte`` (numbers; dates on ``timestamp``), ``$contains`` (a value of a list), combined with
``$and`` / ``$or``. Fields are the built-in ones (``subject`` or ``sender``, ``kind``,
``scene_id``, ``cell_id``, ``timestamp`` or ``time``; ``after`` and ``before`` stay as
shorthands for ``timestamp`` ``$gte`` / ``$lte``) or keys of the messages' ``metadata``
(bare, or as ``metadata.<key>`` when the key has a built-in's name).

A memory carries, for each metadata key, the distinct values of the messages it was drawn
from (a list value contributes its items): a MemCell of a Slack and an email message has
``channel`` ``["slack", "email"]``. A condition holds when *any* of those values satisfies it
(``$eq``, ``$in``, ``$contains``, the comparisons) and ``$ne`` / ``$nin`` hold when *none*
does, so a memory without the key passes ``$ne``. Values compare within their type: ``1`` is
not ``True`` and not ``"1"``.

:func:`parse` turns the dict into a typed tree (or raises :class:`InvalidFilterError` naming
the fix); :func:`matches` is the exact predicate; :func:`to_sql` the same condition as a
WHERE fragment over the ``units`` table with bound parameters; :func:`to_chroma` the part
Chroma can judge on a vector's metadata, a necessary condition that narrows the vector search
before the predicate decides. A filter only ever narrows: the scope is applied apart from it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

from evermem_integrations.engine.timeparse import parse_timestamp
from evermem_integrations.errors import InvalidFilterError

Scalar = str | int | float | bool
MetadataValues = dict[str, list[Scalar]]
"""Filterable metadata of a memory: each key's distinct values over its source messages."""
Operator = Literal["$eq", "$ne", "$in", "$nin", "$gt", "$gte", "$lt", "$lte", "$contains"]
OPERATORS: tuple[str, ...] = get_args(Operator)
COMPARISONS = frozenset({"$gt", "$gte", "$lt", "$lte"})
NEGATIONS = frozenset({"$ne", "$nin"})
MAX_DEPTH = 6
"""Nesting of ``$and`` / ``$or`` a filter may use."""
MAX_CONDITIONS = 200
MAX_LIST = 1_000
"""Values an ``$in`` / ``$nin`` list may hold."""
_NAME = re.compile(r"[\w-]{1,64}")
TEXT_FIELDS = {"subject": "subject", "sender": "subject", "kind": "kind", "scene_id": "scene_id", "cell_id": "cell_id"}
TIME_FIELDS = ("timestamp", "time")
SHORTHANDS = {"after": "$gte", "before": "$lte"}
KINDS = ("episode", "fact", "foresight", "profile", "raw", "scene", "message")
CHROMA_META_PREFIX = "meta:"


@dataclass(frozen=True)
class Condition:
    """One test of one field: ``builtin`` names ``subject``, ``kind``, ``scene_id``, ``cell_id``, ``timestamp``."""

    field: str
    builtin: bool
    op: Operator
    value: Scalar | datetime | tuple[Scalar | datetime, ...]


@dataclass(frozen=True)
class AllOf:
    """Every part holds (no parts: everything passes)."""

    parts: tuple[Filter, ...]


@dataclass(frozen=True)
class AnyOf:
    """At least one part holds."""

    parts: tuple[Filter, ...]


Filter = Condition | AllOf | AnyOf
MATCH_ALL = AllOf(())


@dataclass(frozen=True)
class Target:
    """What a filter is judged on: a memory's built-in fields and its source metadata."""

    kind: str
    subjects: tuple[str, ...]
    """Who the memory is about (a MemCell: its participants)."""
    timestamp: datetime | None
    metadata: Mapping[str, Sequence[Scalar]]
    scene_id: str | None = None
    cell_id: str | None = None


# -- parsing ---------------------------------------------------------------------------------
def parse(filters: Mapping[str, Any] | None) -> Filter:
    """Validate a filter dict into a :data:`Filter`; raises :class:`InvalidFilterError` naming the fix."""
    if filters is None:
        return MATCH_ALL
    if not isinstance(filters, Mapping):
        raise InvalidFilterError(f"filters must be a dict such as {{'channel': 'slack'}}, got {type(filters).__name__}")
    parsed = _parse_object(filters, depth=0)
    if _count(parsed) > MAX_CONDITIONS:
        raise InvalidFilterError(f"a filter may hold at most {MAX_CONDITIONS} conditions; split the search")
    return parsed


def all_of(*filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """One filter dict requiring every given one (``None`` and empty ones left out)."""
    present = [dict(f) for f in filters if f]
    return None if not present else present[0] if len(present) == 1 else {"$and": present}


def is_empty(flt: Filter) -> bool:
    """Whether the filter lets everything through."""
    return isinstance(flt, AllOf) and not flt.parts


def split_subjects(flt: Filter) -> tuple[frozenset[str] | None, Filter]:
    """``(subjects, rest)``: what passes ``flt`` is what is about one of ``subjects`` and passes ``rest``.

    ``subjects`` is ``None`` when the filter names none at its top (``$eq`` / ``$in`` on
    ``subject``, alone or among ``$and``'s parts); the exact tier judges it from memory.
    """
    if isinstance(flt, Condition):
        if flt.builtin and flt.field == "subject" and flt.op in ("$eq", "$in"):
            wanted = flt.value if isinstance(flt.value, tuple) else (flt.value,)
            return frozenset(v for v in wanted if isinstance(v, str)), MATCH_ALL
        return None, flt
    if isinstance(flt, AnyOf):
        return None, flt
    subjects: frozenset[str] | None = None
    rest: list[Filter] = []
    for part in flt.parts:
        named, remainder = split_subjects(part)
        if named is not None:
            subjects = named if subjects is None else subjects & named
        if not is_empty(remainder):
            rest.append(remainder)
    return subjects, rest[0] if len(rest) == 1 else AllOf(tuple(rest))


def _count(flt: Filter) -> int:
    return 1 if isinstance(flt, Condition) else sum(_count(p) for p in flt.parts)


def _parse_object(filters: Mapping[str, Any], depth: int) -> Filter:
    if depth > MAX_DEPTH:
        raise InvalidFilterError(f"filter nests $and/$or deeper than {MAX_DEPTH} levels; flatten it")
    parts: list[Filter] = []
    for key, value in filters.items():
        if not isinstance(key, str):
            raise InvalidFilterError(f"filter keys are field names or $and/$or, got {key!r}")
        if key in ("$and", "$or"):
            if isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, str) or not value:
                raise InvalidFilterError(
                    f"{key} takes a non-empty list of filters, e.g. {{'{key}': [{{...}}, {{...}}]}}"
                )
            branches = []
            for branch in value:
                if not isinstance(branch, Mapping) or not branch:
                    raise InvalidFilterError(f"each filter in {key} must be a non-empty dict, got {branch!r}")
                branches.append(_parse_object(branch, depth + 1))
            parts.append(AllOf(tuple(branches)) if key == "$and" else AnyOf(tuple(branches)))
        elif key.startswith("$"):
            raise InvalidFilterError(
                f"unknown filter operator {key!r} at the top level; combine filters with $and or $or, "
                f"and put {', '.join(OPERATORS)} under a field: {{'field': {{'$ne': value}}}}"
            )
        elif key in SHORTHANDS:
            try:
                parts.append(_condition("timestamp", True, SHORTHANDS[key], value))  # type: ignore[arg-type]
            except InvalidFilterError as exc:  # name the key the caller wrote
                raise InvalidFilterError(str(exc).replace("filter on timestamp", f"filter {key!r}")) from exc
        else:
            parts.extend(_parse_field(key, value))
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def _field(name: str) -> tuple[str, bool]:
    """``(field, builtin)`` for a filter key."""
    if name.startswith("metadata."):
        key = name.removeprefix("metadata.")
        builtin = False
    elif name in TEXT_FIELDS:
        return TEXT_FIELDS[name], True
    elif name in TIME_FIELDS:
        return "timestamp", True
    else:
        key, builtin = name, False
    if not _NAME.fullmatch(key):
        raise InvalidFilterError(
            f"filter field {name!r}: a metadata key of 1-64 letters, digits, '_' or '-' is expected "
            "(keys with other characters cannot be filtered on); rename the key in the messages' metadata"
        )
    return key, builtin


def _parse_field(name: str, value: Any) -> list[Filter]:
    field, builtin = _field(name)
    if not isinstance(value, Mapping):
        return [_condition(field, builtin, "$eq", value)]
    if not value:
        raise InvalidFilterError(f"filter field {name!r} has an empty operator dict; give e.g. {{'$eq': value}}")
    conditions: list[Filter] = []
    for op, operand in value.items():
        if op not in OPERATORS:
            raise InvalidFilterError(f"unknown filter operator {op!r} on {name!r}; use one of {', '.join(OPERATORS)}")
        conditions.append(_condition(field, builtin, op, operand))
    return conditions


def _condition(field: str, builtin: bool, op: Operator, value: Any) -> Condition:
    if op in ("$in", "$nin"):
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence) or not value:
            raise InvalidFilterError(f"{op} on {field!r} takes a non-empty list of values, got {value!r}")
        if len(value) > MAX_LIST:
            raise InvalidFilterError(f"{op} on {field!r} holds {len(value):,} values, more than {MAX_LIST:,}")
        return Condition(field, builtin, op, tuple(_operand(field, builtin, "$eq", v) for v in value))
    return Condition(field, builtin, op, _operand(field, builtin, op, value))


def _operand(field: str, builtin: bool, op: str, value: Any) -> Scalar | datetime:
    if value is None:
        raise InvalidFilterError(
            f"filter value of {field!r} is null; to keep memories without the key use {{'{field}': {{'$ne': value}}}}"
        )
    if builtin and field == "timestamp":
        if op == "$contains":
            raise InvalidFilterError("$contains does not apply to timestamp; use $gte/$lte with a date")
        try:
            return parse_timestamp(value)
        except ValueError as exc:
            raise InvalidFilterError(f"filter on timestamp: {exc}") from exc
    if builtin:
        if op in COMPARISONS or op == "$contains":
            raise InvalidFilterError(f"{op} does not apply to {field!r}, which is text; use $eq, $ne, $in or $nin")
        if not isinstance(value, str) or not value:
            raise InvalidFilterError(f"filter {field!r} takes a non-empty string, got {value!r}")
        if field == "kind" and value not in KINDS:
            raise InvalidFilterError(f"filter kind {value!r} is no memory kind; use one of {', '.join(KINDS)}")
        return value
    if op in COMPARISONS:
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidFilterError(
                f"{op} on metadata {field!r} takes a number, got {value!r}; dates compare on 'timestamp'"
            )
        return value
    if not isinstance(value, str | int | float | bool) or (isinstance(value, float) and not math.isfinite(value)):
        raise InvalidFilterError(
            f"filter value of metadata {field!r} must be a string, number or boolean, got {type(value).__name__}"
        )
    return value


# -- what memories carry ----------------------------------------------------------------------
def _type_tag(value: Scalar) -> str:
    return "b" if isinstance(value, bool) else "s" if isinstance(value, str) else "n"


def merge_metadata(sources: Iterable[Mapping[str, Any]]) -> MetadataValues:
    """The filterable metadata of a memory drawn from messages with these ``metadata`` dicts.

    Each key keeps its distinct scalar values in first-seen order; a list contributes its
    items; nested dicts, nulls and keys a filter could not name are left out.
    """
    merged: dict[str, dict[tuple[str, Scalar], Scalar]] = {}
    for metadata in sources:
        for key, value in metadata.items():
            if not isinstance(key, str) or not _NAME.fullmatch(key):
                continue
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, str | bool | int | float) and not (
                    isinstance(item, float) and not math.isfinite(item)
                ):
                    merged.setdefault(key, {}).setdefault((_type_tag(item), item), item)
    return {key: list(values.values()) for key, values in merged.items() if values}


def chroma_metadata(
    kind: str, timestamp: datetime | None, subject: str | None, cell_id: str | None, metadata: MetadataValues
) -> dict[str, Any]:
    """A vector's Chroma metadata: the fixed built-in fields and one array per metadata key and type.

    Chroma arrays hold one type, so ``channel`` becomes ``meta:channel:s`` (strings),
    ``meta:channel:n`` (numbers, as floats) and ``meta:channel:b`` (booleans) as present.
    """
    payload: dict[str, Any] = {"kind": kind}
    if timestamp is not None:
        payload["ts"] = timestamp.timestamp()
    if subject:
        payload["subject"] = subject
    if cell_id:
        payload["cell_id"] = cell_id
    for key, values in metadata.items():
        for tag in ("s", "n", "b"):
            typed = [float(v) if tag == "n" else v for v in values if _type_tag(v) == tag]
            if typed:
                payload[f"{CHROMA_META_PREFIX}{key}:{tag}"] = typed
    return payload


# -- the predicate ------------------------------------------------------------------------------
def _values(target: Target, condition: Condition) -> Sequence[Scalar | datetime]:
    if not condition.builtin:
        return target.metadata.get(condition.field, ())
    if condition.field == "subject":
        return target.subjects
    single = {
        "kind": target.kind,
        "scene_id": target.scene_id,
        "cell_id": target.cell_id,
        "timestamp": target.timestamp,
    }[condition.field]
    return () if single is None else (single,)


def _same(left: Scalar | datetime, right: Scalar | datetime) -> bool:
    if isinstance(left, datetime) or isinstance(right, datetime):
        return left == right
    return _type_tag(left) == _type_tag(right) and left == right


def _compare(op: str, left: Scalar | datetime, right: Scalar | datetime) -> bool:
    if isinstance(right, datetime) or isinstance(left, datetime):
        if not (isinstance(right, datetime) and isinstance(left, datetime)):
            return False
    elif _type_tag(left) != "n" or _type_tag(right) != "n":
        return False
    if op == "$gt":
        return left > right  # type: ignore[operator]
    if op == "$gte":
        return left >= right  # type: ignore[operator]
    if op == "$lt":
        return left < right  # type: ignore[operator]
    return left <= right  # type: ignore[operator]


def matches(flt: Filter, target: Target) -> bool:
    """Whether ``target`` passes ``flt`` (the exact semantics every translation follows)."""
    if isinstance(flt, AllOf):
        return all(matches(part, target) for part in flt.parts)
    if isinstance(flt, AnyOf):
        return any(matches(part, target) for part in flt.parts)
    values = _values(target, flt)
    wanted = flt.value if isinstance(flt.value, tuple) else (flt.value,)
    if flt.op in COMPARISONS:
        return any(_compare(flt.op, v, wanted[0]) for v in values)
    hit = any(_same(v, w) for v in values for w in wanted)
    return not hit if flt.op in NEGATIONS else hit


# -- SQL over the units table -------------------------------------------------------------------
_SQL_COLUMNS = {
    "kind": "{u}.kind",
    "cell_id": "{u}.cell_id",
    "subject": "{u}.subject",
    # A unit's scene is its MemCell's (a unit drawn from none has none).
    "scene_id": "(SELECT c.scene_id FROM cells AS c WHERE c.id = {u}.cell_id AND c.scope = {u}.scope)",
    "timestamp": "{u}.ts",
}
_SQL_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def _sql_value(value: Scalar | datetime) -> Scalar:
    return value.timestamp() if isinstance(value, datetime) else value


def _json_test(value: Scalar, op: str = "=") -> tuple[str, list[Any]]:
    """A test of one ``json_each`` row ``j`` against a value, type included."""
    if isinstance(value, bool):
        return f"j.type = '{'true' if value else 'false'}'", []
    if isinstance(value, str):
        return f"(j.type = 'text' AND j.value {op} ?)", [value]
    return f"(j.type IN ('integer', 'real') AND j.value {op} ?)", [value]


def to_sql(flt: Filter, units: str = "units") -> tuple[str, list[Any]]:
    """``(where fragment, parameters)`` over the ``units`` table (aliased ``units``); exact.

    Values are bound parameters; field names appear only as validated JSON paths, bound too.
    """
    if isinstance(flt, AllOf | AnyOf):
        if not flt.parts:
            return ("1" if isinstance(flt, AllOf) else "0"), []
        pieces = [to_sql(part, units) for part in flt.parts]
        joiner = " AND " if isinstance(flt, AllOf) else " OR "
        return joiner.join(f"({sql})" for sql, _ in pieces), [p for _, params in pieces for p in params]
    wanted = flt.value if isinstance(flt.value, tuple) else (flt.value,)
    if flt.builtin:
        column = _SQL_COLUMNS[flt.field].format(u=units)
        values = [_sql_value(v) for v in wanted]
        marks = ", ".join("?" * len(values))
        if flt.op in COMPARISONS:
            return f"{column} {_SQL_OPS[flt.op]} ?", values
        if flt.op == "$ne":
            return f"{column} IS NOT ?", values
        if flt.op == "$nin":
            return f"({column} IS NULL OR {column} NOT IN ({marks}))", values
        return f"{column} IN ({marks})", values
    tests = [_json_test(v, _SQL_OPS.get(flt.op, "=")) for v in wanted]  # type: ignore[arg-type]
    condition = " OR ".join(sql for sql, _ in tests)
    params: list[Any] = [f'$."{flt.field}"', *(p for _, ps in tests for p in ps)]
    exists = f"EXISTS (SELECT 1 FROM json_each({units}.meta, ?) AS j WHERE {condition})"  # noqa: S608 (values bound)
    return (f"NOT {exists}" if flt.op in NEGATIONS else exists), params


# -- Chroma's where -----------------------------------------------------------------------------
def _combine(op: str, parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return parts[0] if len(parts) == 1 else {op: list(parts)}


def to_chroma(flt: Filter) -> dict[str, Any] | None:
    """A Chroma ``where`` that every memory passing ``flt`` passes too, or ``None`` if none helps.

    Pushed down: ``kind`` (every operator), ``subject`` and ``cell_id`` (``$eq``/``$in``),
    ``timestamp`` (``$eq`` and the comparisons) and metadata ``$eq``/``$in``/``$contains``
    (as ``$contains`` on the typed arrays). ``scene_id`` changes after a vector is written and
    the negations of metadata could exclude a vector whose stored arrays are wider than its
    memory's: those, and an ``$or`` with such a part, are left to :func:`matches`.
    """
    if isinstance(flt, AllOf):
        pushed = [w for w in (to_chroma(p) for p in flt.parts) if w is not None]
        return _combine("$and", pushed) if pushed else None
    if isinstance(flt, AnyOf):
        branches = [to_chroma(p) for p in flt.parts]
        if not branches or any(b is None for b in branches):
            return None
        return _combine("$or", [b for b in branches if b is not None])
    wanted = flt.value if isinstance(flt.value, tuple) else (flt.value,)
    if flt.builtin:
        if flt.field == "kind":
            return {"kind": {flt.op: list(wanted) if flt.op in ("$in", "$nin") else wanted[0]}}
        if flt.field in ("subject", "cell_id") and flt.op in ("$eq", "$in"):
            return {flt.field: {"$in": list(wanted)}}
        if flt.field == "timestamp" and (flt.op == "$eq" or flt.op in COMPARISONS):
            return {"ts": {flt.op: _sql_value(wanted[0])}}
        return None
    if flt.op not in ("$eq", "$in", "$contains"):
        return None
    tests = []
    for value in wanted:
        assert not isinstance(value, datetime)  # metadata operands are scalars
        tag = _type_tag(value)
        tests.append({f"{CHROMA_META_PREFIX}{flt.field}:{tag}": {"$contains": float(value) if tag == "n" else value}})
    return _combine("$or", tests)


def both(*wheres: dict[str, Any] | None) -> dict[str, Any] | None:
    """The ``$and`` of the given Chroma ``where`` documents (``None`` ones left out)."""
    present = [w for w in wheres if w is not None]
    return _combine("$and", present) if present else None
