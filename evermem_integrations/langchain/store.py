"""``EverMemStore``: a LangGraph ``BaseStore`` kept in EverMem (and so in Chroma + SQLite).

::

    store = EverMemStore(memory=mem)
    agent = create_agent(model, tools, store=store)         # or graph.compile(store=store)
    store.put(("u1", "memories"), "food", {"text": "Loves spicy ramen"})
    store.search(("u1", "memories"), query="what does the user like to eat?")

**Namespace to scope.** EverMem partitions memories by scope; a namespace names its scope
through one label: by default the first one is the ``user_id`` (``("u1", "memories")``
lives in the scope ``user_id="u1"``). ``scope_label=1, scope_field="user_id"`` reads LangGraph's
other common layout ``("memories", "u1")``; ``scope_of=`` takes any mapping
``namespace -> {"user_id"/"group_id"/"agent_id": ...}`` (it must raise for a namespace
prefix too short to name the scope, and give every namespace under a prefix the prefix's scope).

**How items are kept.** Each item version is one EverMem message in its scope: the text
rendered from the value (its ``fields``/``index`` paths, or the whole value) is the content,
so the engine indexes it like any memory (BM25 + vectors, later facts of a MemCell); the
namespace, key, value and timestamps ride in the message metadata, which makes ``get`` exact.
An update or delete removes the old version's message and the facts drawn from it. Because
the items share the scope with the user's conversations, what an agent saves through the
store is also recalled by :class:`~evermem_integrations.langchain.EverMemMiddleware`.

``search`` with a ``query`` ranks the items by the engine's hybrid search (items it does not
rank follow, newest first, with ``score=None``, as LangGraph's in-memory store does for
unindexed items); without a query it lists them newest first. ``filter`` is EverMem's filter
language over the value's fields (``$eq``, ``$ne``, ``$in``, ``$nin``, ``$gt``/``$gte``/``$lt``/``$lte``
on numbers, ``$contains``, ``$and``/``$or``; a list value matches any of its items; a
nested dict matches a nested value), and an invalid one raises ``InvalidFilterError``. Reads scan the
scope's stored messages, so the store suits per-user memories (thousands of items per scope),
not bulk data.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from langgraph.store.base import (
    BaseStore,
    GetOp,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
)
from langgraph.store.base.embed import get_text_at_path, tokenize_path

from evermem_integrations.engine import filters as filtering
from evermem_integrations.engine.models import Scope, SearchMethod, stable_id
from evermem_integrations.errors import NotFoundError, ScopeError
from evermem_integrations.langchain._common import SCOPE_FIELDS, ScopeIds, scope_ids
from evermem_integrations.memory import EverMem

META_KEY = "langgraph_store"
"""Message metadata field holding an item's namespace, key, value and timestamps."""

ScopeOf = Callable[[tuple[str, ...]], Mapping[str, str]]


@dataclass
class _Stored:
    """An item as found in the engine: the item and the id of the message holding it."""

    message_id: str
    item: Item


class EverMemStore(BaseStore):
    """LangGraph long-term memory store backed by EverMem.

    Args:
        memory: the EverMem engine.
        scope_label: position of the namespace label that names the scope (default 0).
        scope_field: which scope id that label is: ``user_id``, ``group_id`` or ``agent_id``.
        scope_of: a full mapping from namespace to scope ids (overrides the two above).
        fields: value paths whose text is indexed (LangGraph path syntax, e.g. ``["text"]``,
            ``["facts[*]"]``); default: the whole value. ``put(..., index=[...])`` overrides per item.
        sender: the sender name items are stored under (facts read "memory: ...").
        method: the engine's search method for ``query`` searches.

    """

    def __init__(
        self,
        memory: EverMem,
        *,
        scope_label: int = 0,
        scope_field: str = "user_id",
        scope_of: ScopeOf | None = None,
        fields: Sequence[str] | None = None,
        sender: str = "memory",
        method: SearchMethod = "hybrid",
    ) -> None:
        if scope_field not in ("user_id", "group_id", "agent_id"):
            raise ValueError(f"scope_field must be user_id, group_id or agent_id, got {scope_field!r}")
        self.memory = memory
        self.scope_label = scope_label
        self.scope_field = scope_field
        self._scope_of = scope_of
        self.fields = list(fields) if fields is not None else None
        self.sender = sender
        self.method: SearchMethod = method

    # -- namespace -> scope --------------------------------------------------------------------------
    def scope_of(self, namespace: tuple[str, ...]) -> ScopeIds:
        """Map a namespace to EverMem scope ids (raises :class:`ScopeError` if it names none)."""
        if self._scope_of is not None:
            mapped = dict(self._scope_of(tuple(namespace)))
            unknown = set(mapped) - set(SCOPE_FIELDS)
            if unknown:
                raise ScopeError(f"scope_of returned unknown field(s) {sorted(unknown)}; use {', '.join(SCOPE_FIELDS)}")
        elif len(namespace) > self.scope_label:
            mapped = {self.scope_field: namespace[self.scope_label]}
        else:
            mapped = {}
        ids = scope_ids(mapped.get("user_id"), mapped.get("group_id"), mapped.get("agent_id"))
        if not ids:
            raise ScopeError(
                f"namespace {namespace!r} names no EverMem scope: label {self.scope_label} is the {self.scope_field} "
                "(set scope_label=/scope_field= or scope_of= on EverMemStore)"
            )
        return ids

    def _candidate_scopes(self, prefix: tuple[str, ...]) -> list[ScopeIds]:
        """Return the scope a prefix names, or every scope when the prefix is too short to name one."""
        try:
            return [self.scope_of(prefix)]
        except (ScopeError, IndexError, KeyError):
            return [_ids(scope) for scope in self.memory.scopes()]

    # -- reading the items of a scope ---------------------------------------------------------------
    def _items(self, scope: ScopeIds) -> dict[tuple[tuple[str, ...], str], _Stored]:
        """Load the current items of a scope by (namespace, key); the newest version wins."""
        found: dict[tuple[tuple[str, ...], str], _Stored] = {}
        for message in self.memory.export_scope(**scope)["messages"]:
            meta = (message.get("metadata") or {}).get(META_KEY)
            if not meta:
                continue
            item = Item(
                value=meta["value"],
                key=meta["key"],
                namespace=tuple(meta["namespace"]),
                created_at=datetime.fromisoformat(meta["created_at"]),
                updated_at=datetime.fromisoformat(meta["updated_at"]),
            )
            known = found.get((item.namespace, item.key))
            if known is None or known.item.updated_at <= item.updated_at:
                found[(item.namespace, item.key)] = _Stored(message["id"], item)
        return found

    # -- batch ---------------------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        """Run get, put (and delete), search and list-namespaces operations in order."""
        cache: dict[str, dict[tuple[tuple[str, ...], str], _Stored]] = {}

        def items_of(scope: ScopeIds) -> dict[tuple[tuple[str, ...], str], _Stored]:
            key = Scope.of(**scope).key
            if key not in cache:
                cache[key] = self._items(scope)
            return cache[key]

        results: list[Result] = []
        moment = datetime.now(UTC)
        for index, op in enumerate(ops):
            if isinstance(op, GetOp):
                stored = items_of(self.scope_of(op.namespace)).get((tuple(op.namespace), op.key))
                results.append(stored.item if stored else None)
            elif isinstance(op, PutOp):
                # Distinct times keep two puts of one batch apart (the engine dedups same sender+text+time).
                self._put(op, items_of(self.scope_of(op.namespace)), moment + timedelta(microseconds=index))
                results.append(None)
            elif isinstance(op, SearchOp):
                results.append(self._search(op, items_of))
            elif isinstance(op, ListNamespacesOp):
                results.append(self._list_namespaces(op, items_of))
            else:
                raise TypeError(f"EverMemStore cannot run a {type(op).__name__}")
        return results

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        """Async :meth:`batch` (runs in a worker thread; the engine's stores are thread-safe)."""
        return await asyncio.to_thread(self.batch, list(ops))

    # -- put / delete --------------------------------------------------------------------------------
    def _put(self, op: PutOp, items: dict[tuple[tuple[str, ...], str], _Stored], moment: datetime) -> None:
        namespace = tuple(op.namespace)
        scope = self.scope_of(namespace)
        previous = items.pop((namespace, op.key), None)
        if previous is not None:
            self._forget(previous.message_id, scope)
        if op.value is None:
            return
        value = dict(op.value)
        created = previous.item.created_at if previous is not None else moment
        item = Item(value=value, key=op.key, namespace=namespace, created_at=created, updated_at=moment)
        message_id = stable_id(Scope.of(**scope).key, *namespace, op.key, moment.isoformat(), prefix="kv_")
        meta = {
            "namespace": list(namespace),
            "key": op.key,
            "value": value,
            "created_at": created.isoformat(),
            "updated_at": moment.isoformat(),
        }
        text = self._text(value, op.index) or op.key
        self.memory.add(
            {
                "id": message_id,
                "sender": self.sender,
                "content": text,
                "timestamp": moment,
                "metadata": {META_KEY: meta},
            },
            **scope,
        )
        items[(namespace, op.key)] = _Stored(message_id, item)

    def _text(self, value: Mapping[str, Any], index: Any) -> str:
        """Build the text the engine indexes for a value: the chosen paths, else the whole value."""
        paths = index if isinstance(index, list) else self.fields
        if not paths or paths == ["$"]:
            return _render(value)
        texts = [text for path in paths for text in get_text_at_path(value, tokenize_path(path))]
        return "\n".join(t.strip() for t in texts if t and t.strip())

    def _forget(self, message_id: str, scope: ScopeIds) -> None:
        """Delete an item version's message and the facts and foresight drawn from it."""
        stats = self.memory.stats(**scope)
        derived = [
            record.id
            for records in (
                self.memory.get(**scope, kind="fact", limit=stats.facts) if stats.facts else [],
                self.memory.get(**scope, kind="foresight", limit=stats.foresight) if stats.foresight else [],
            )
            for record in records
            if message_id in record.source_message_ids
        ]
        for memory_id in [message_id, *derived]:
            try:
                self.memory.delete(memory_id, **scope)
            except NotFoundError:  # removed already (e.g. a fact shared with another message)
                continue

    # -- search ----------------------------------------------------------------------------------------
    def _search(self, op: SearchOp, items_of: Callable[[ScopeIds], dict[Any, _Stored]]) -> list[SearchItem]:
        prefix = tuple(op.namespace_prefix)
        scored: list[tuple[float | None, Item]] = []
        for scope in self._candidate_scopes(prefix):
            candidates = {
                s.message_id: s.item
                for s in items_of(scope).values()
                if s.item.namespace[: len(prefix)] == prefix and _matches(s.item.value, op.filter)
            }
            if not candidates:
                continue
            scores: dict[str, float] = {}
            if op.query and op.query.strip():
                result = self.memory.search(
                    op.query, **scope, method=self.method, kinds=["raw", "fact"], token_budget=1_000_000
                )
                for hit in result.items:
                    for message_id in hit.source_message_ids:
                        if message_id in candidates:
                            scores[message_id] = max(scores.get(message_id, hit.score), hit.score)
            scored += [(scores.get(message_id), item) for message_id, item in candidates.items()]
        scored.sort(key=lambda pair: (pair[0] is not None, pair[0] or 0.0, pair[1].updated_at), reverse=True)
        page = scored[op.offset : op.offset + op.limit]
        return [
            SearchItem(
                namespace=item.namespace,
                key=item.key,
                value=item.value,
                created_at=item.created_at,
                updated_at=item.updated_at,
                score=score,
            )
            for score, item in page
        ]

    # -- list namespaces ---------------------------------------------------------------------------------
    def _list_namespaces(
        self, op: ListNamespacesOp, items_of: Callable[[ScopeIds], dict[Any, _Stored]]
    ) -> list[tuple[str, ...]]:
        conditions = tuple(op.match_conditions or ())
        prefixes = [c.path for c in conditions if c.match_type == "prefix" and "*" not in c.path]
        scopes = self._candidate_scopes(tuple(prefixes[0])) if prefixes else [_ids(s) for s in self.memory.scopes()]
        namespaces = {stored.item.namespace for scope in scopes for stored in items_of(scope).values()}
        matching = {ns for ns in namespaces if all(_namespace_matches(c, ns) for c in conditions)}
        if op.max_depth is not None:
            matching = {ns[: op.max_depth] for ns in matching}
        return sorted(matching)[op.offset : op.offset + op.limit]


def _ids(scope: Scope) -> ScopeIds:
    return scope_ids(scope.user_id, scope.group_id, scope.agent_id)


def _render(value: Any) -> str:
    """Render a value as indexable text: strings as they are, mappings as ``key: value`` lines."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, Mapping):
        if len(value) == 1:
            return _render(next(iter(value.values())))
        lines = [f"{key}: {_render(item)}" for key, item in value.items() if _render(item)]
        return "\n".join(lines)
    if isinstance(value, list | tuple):
        return "\n".join(text for text in (_render(item) for item in value) if text)
    if value is None:
        return ""
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    labels = namespace[: len(path)] if condition.match_type == "prefix" else namespace[len(namespace) - len(path) :]
    return all(p == "*" or p == label for p, label in zip(path, labels, strict=True))


def _matches(value: Mapping[str, Any], conditions: Mapping[str, Any] | None) -> bool:
    """Whether a value passes a LangGraph store filter, in EverMem's filter language.

    A field is a key of the value; a nested dict without operators matches a nested value.
    """
    if not conditions:
        return True
    nested = {
        field: expected
        for field, expected in conditions.items()
        if isinstance(expected, Mapping) and expected and not any(str(k).startswith("$") for k in expected)
    }
    for field, expected in nested.items():
        actual = value.get(field)
        if not isinstance(actual, Mapping) or not _matches(actual, expected):
            return False
    rest = {field: expected for field, expected in conditions.items() if field not in nested}
    if not rest:
        return True
    target = filtering.Target("raw", (), None, filtering.merge_metadata([value]))
    return filtering.matches(filtering.parse(_on_value(rest)), target)


def _on_value(conditions: Mapping[str, Any]) -> dict[str, Any]:
    """A store filter with every field read from the value (``kind`` is the value's, not the memory kind)."""
    rewritten: dict[str, Any] = {}
    for key, expected in conditions.items():
        if key in ("$and", "$or") and isinstance(expected, list):
            rewritten[key] = [_on_value(b) if isinstance(b, Mapping) else b for b in expected]
        else:
            rewritten[key if key.startswith("$") else f"metadata.{key}"] = expected
    return rewritten
