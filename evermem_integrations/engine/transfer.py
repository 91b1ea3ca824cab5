"""Export and import of a scope: what it holds, as stored, from one store to another.

An export carries the records (messages, which of them are still buffered, MemCells with their
facts and foresight, scenes, profile entries current and superseded, conversation settings)
and the searchable units as written, so an import reproduces the memory exactly, whatever
extractor or LLM the target store would use, and a deletion stays a deletion. Derived state is
rebuilt, not shipped: vectors are embedded again by the target's embedder, scene centroids are
the mean of their MemCells' title vectors (as the clusterer keeps them), and the indexed context
a unit was written with (the question a fact answers, the words of an episode) is rebuilt by the
same functions that wrote it.

Ids of records are derived from their scope, and several tables key on the id alone, so an
import into another scope gives every record id a new one (see :func:`_renamed`); message ids
are per scope and stay as they are.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from evermem_integrations.engine.ingest import cell_units, message_units, profile_unit, questions_answered
from evermem_integrations.engine.models import (
    EPISODE_KINDS,
    ITEM_KINDS,
    ConversationMeta,
    MemCell,
    MemScene,
    Message,
    ProfileItem,
    Scope,
)
from evermem_integrations.engine.protocols import RecordStore
from evermem_integrations.engine.records import Unit
from evermem_integrations.errors import InputError

EXPORT_FORMAT: Literal["evermem-export/2"] = "evermem-export/2"
MESSAGES_ONLY_FORMAT = "evermem-export/1"
"""The earlier format: messages and settings only; importing it re-derives the memories."""

Embed = Callable[[Sequence[str]], np.ndarray]


class ScopeExport(BaseModel):
    """Everything one scope holds, as :meth:`EverMem.export_scope` writes it.

    It carries no export time: two exports of the same memory are the same document.
    """

    format: Literal["evermem-export/2"] = EXPORT_FORMAT
    scope: Scope
    embedder: str = Field(description="the embedding model the source store used (the target embeds again)")
    meta: ConversationMeta | None = None
    messages: list[Message] = Field(description="every stored message of the scope, in order")
    buffered: list[str] = Field(description="ids of the messages not yet cut into a MemCell")
    cells: list[MemCell] = Field(description="MemCells with facts and foresight; their messages are in `cell_messages`")
    cell_messages: dict[str, list[str]] = Field(description="message ids of each MemCell, in order")
    scenes: list[MemScene]
    profile: list[ProfileItem]
    units: list[Unit] = Field(description="the searchable units as stored (text and record data)")


class RestoreReport(BaseModel):
    """What an import of a :class:`ScopeExport` wrote."""

    added: int
    skipped: int
    buffered: int


def export_scope(records: RecordStore, scope: Scope, embedder: str) -> ScopeExport:
    """Read everything ``scope`` holds."""
    key = scope.key
    messages = records.all_messages(key)
    cells = records.cells(key)
    unit_ids = sorted(i for kind in sorted(ITEM_KINDS | EPISODE_KINDS) for i in records.unit_ids_of_kind(key, kind))
    units = records.units(key, unit_ids)
    return ScopeExport(
        scope=scope,
        embedder=embedder,
        meta=records.meta(key),
        messages=messages,
        buffered=[m.id for m in records.buffered_messages(key)],
        cells=[c.model_copy(update={"messages": []}) for c in cells],
        cell_messages={c.id: [m.id for m in c.messages] for c in cells},
        scenes=sorted((scene for scene, _ in records.scenes(key)), key=lambda s: s.id),
        profile=sorted(records.profile_items(key), key=lambda p: p.id),
        units=[_stored(units[i]) for i in unit_ids if i in units],
    )


def restore_scope(records: RecordStore, embed: Embed, document: ScopeExport, target: Scope) -> RestoreReport:
    """Make ``target`` hold exactly the export, in the caller's transaction; vectors go to the outbox.

    A target that holds nothing, or only messages of the export (an earlier import of it, say),
    is replaced by the export; one with other messages is left alone.

    Raises:
        InputError: ``target`` already holds messages the export does not (another history:
            delete the scope first, or merge with ``rederive=True``), or the export contradicts
            itself (records of several scopes, a MemCell naming a message it does not carry).

    """
    key = target.key
    exported_ids = {m.id for m in document.messages}
    held = {m.id for m in records.all_messages(key)}
    foreign = held - exported_ids
    if foreign:
        raise InputError(
            f"scope {key} already holds {len(foreign)} messages the export does not: delete the scope first "
            "(`EverMem.delete(...)`, `evermem delete`) or merge by re-deriving the memories from the messages "
            "(`import_scope(data, rederive=True)`, `evermem import --rederive`)"
        )
    missing = sorted({i for ids in document.cell_messages.values() for i in ids} - exported_ids)
    if missing or set(document.cell_messages) != {c.id for c in document.cells}:
        raise InputError(
            "the export's MemCells and `cell_messages` do not match its messages "
            f"({len(missing)} unknown message ids): re-export the scope with `evermem export`"
        )
    source = _source_key(document)
    document = _with_context(document, source)
    if key != source:
        document = _renamed(document, source, key)
    stale = {i for kind in ITEM_KINDS | EPISODE_KINDS for i in records.unit_ids_of_kind(key, kind)}
    records.delete_scope(key)
    by_id = {m.id: m for m in document.messages}
    records.insert_messages(key, document.messages)
    units_of_cell: dict[str | None, list[Unit]] = {}
    for unit in document.units:
        units_of_cell.setdefault(unit.cell_id, []).append(unit)
    for cell in document.cells:
        with_messages = cell.model_copy(update={"messages": [by_id[i] for i in document.cell_messages[cell.id]]})
        records.save_cell(with_messages, units_of_cell.pop(cell.id, []), [])
    # Units of no MemCell: buffered messages and profile entries.
    records.put_units([u for units in units_of_cell.values() for u in units])
    titles = {c.id: c.title for c in document.cells}
    for scene in document.scenes:
        members = [titles[i] for i in scene.cell_ids if i in titles] or [scene.title]
        records.save_scene(scene, np.mean(embed(members), axis=0))
    records.save_profile_items(document.profile)
    if document.meta is not None:
        records.save_meta(key, document.meta)
    vectors = embed([u.indexed_text for u in document.units]) if document.units else np.zeros((0, 0))
    written = {u.id for u in document.units}
    records.queue_vectors(
        key, [(u.id, u.kind, v) for u, v in zip(document.units, vectors, strict=True)], sorted(stale - written)
    )
    return RestoreReport(added=len(exported_ids - held), skipped=len(held), buffered=records.count_buffered(key))


def _source_key(document: ScopeExport) -> str:
    """The scope the records were written in (the document's ``scope`` may have been edited)."""
    keys = {c.scope for c in document.cells} | {u.scope for u in document.units}
    keys |= {s.scope for s in document.scenes} | {p.scope for p in document.profile}
    if len(keys) > 1:
        raise InputError(f"the export mixes records of several scopes ({', '.join(sorted(keys))}): export one scope")
    return keys.pop() if keys else document.scope.key


def _stored(unit: Unit) -> Unit:
    # What filters read of the source messages is worked out again by the target store.
    return replace(unit, metadata={})


def _with_context(document: ScopeExport, scope: str) -> ScopeExport:
    """The export's units with the indexed context they were written with (not stored, so not exported)."""
    by_id = {m.id: m for m in document.messages}
    rebuilt: list[Unit] = []
    for cell in document.cells:
        rebuilt += cell_units(cell.model_copy(update={"messages": [by_id[i] for i in document.cell_messages[cell.id]]}))
    buffered = [by_id[i] for i in document.buffered if i in by_id]
    questions = questions_answered(buffered)
    for message in buffered:
        rebuilt += message_units(scope, message, kind="raw", cell_id=None, context=questions.get(message.id, ""))
    rebuilt += [profile_unit(item) for item in document.profile]
    context = {u.id: u.context for u in rebuilt}
    units = [replace(u, context=context.get(u.id, u.context)) for u in document.units]
    return document.model_copy(update={"units": units})


_DIGEST_ID = re.compile(r"([a-z]+_)[0-9a-f]{24}")


def _renamed(document: ScopeExport, old_key: str, key: str) -> ScopeExport:
    """The export moved to scope ``key``: every record id renamed, every reference with it.

    A record id is a head, maybe with a suffix (``cell_3f2a...:episode`` of ``cell_3f2a...``);
    the head takes a digest of the new scope and the old head (keeping a ``cell_``-style
    prefix), the suffix stays, so ids stay unique per store and references consistent.
    """
    ids = {c.id for c in document.cells} | {s.id for s in document.scenes} | {p.id for p in document.profile}
    ids |= {f.id for c in document.cells for f in c.facts} | {f.id for c in document.cells for f in c.foresight}
    ids |= {u.id for u in document.units}
    names: dict[str, str] = {old_key: key}
    for old in ids:
        head, colon, tail = old.partition(":")
        digest = hashlib.sha256(f"{key}\x1f{head}".encode()).hexdigest()[:24]
        digest_id = _DIGEST_ID.fullmatch(head)
        names[head] = f"{digest_id.group(1)}{digest}" if digest_id else f"{head}~{digest[:12]}"
        names[old] = names[head] + colon + tail

    def rename(value: Any) -> Any:
        if isinstance(value, str):
            return names.get(value, value)
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, dict):
            return {k: rename(v) for k, v in value.items()}
        return value

    # Messages keep their ids and words: message ids are per scope.
    data = document.model_dump(mode="json", exclude={"scope", "messages", "buffered", "cell_messages"})
    return ScopeExport.model_validate(
        {
            **rename(data),
            "scope": Scope.from_key(key),
            "messages": document.messages,
            "buffered": document.buffered,
            "cell_messages": {names[c]: ids_ for c, ids_ in document.cell_messages.items()},
        }
    )
