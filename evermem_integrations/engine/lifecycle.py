"""Deletion that forgets: what a deleted memory was drawn into goes with it.

A message is drawn into its MemCell (the episode narrative, facts, foresight, their BM25
entries and vectors) and into profile entries (their ``evidence``); a MemCell into profile
entries and a scene. :class:`Forgetting` removes or re-derives all of that:

* a message still in the buffer: the message and its raw unit;
* a message of a MemCell: the MemCell is re-derived from its remaining messages through the
  engine's write path (``reform``), or dropped when none remain; the message leaves the
  evidence of profile entries, and entries left without evidence are deleted;
* a MemCell: with its messages, facts, foresight, units and vectors; profile entries drawn only
  from its messages are deleted, the others lose those messages from their evidence;
* a scope: every row of it, and its vectors (with their entries in embedded Chroma's log).

Deleted vectors are also purged from embedded Chroma's write-ahead log
(:meth:`ChromaVectorIndex.purge_log`), which otherwise keeps them until the collection's
HNSW index is next persisted.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import numpy as np

from evermem_integrations.engine.consolidation import _merge_keywords, merge_terms, salient_terms, supersede_facts
from evermem_integrations.engine.models import Fact, MemCell, Message, ProfileItem
from evermem_integrations.engine.protocols import RecordStore
from evermem_integrations.engine.records import Unit
from evermem_integrations.engine.vectors import VectorIndex
from evermem_integrations.errors import NotFoundError, ScopeError

Reform = Callable[[str, Sequence[Message]], list[MemCell]]
"""Extract and store one episode's messages as a MemCell (the engine's write path)."""
Embed = Callable[[Sequence[str]], np.ndarray]
ProfileUnit = Callable[[ProfileItem], Unit]

CELL_UNIT_KINDS = ("fact", "foresight", "episode", "message")


class Forgetting:
    """Deletes memories and what was drawn from them, in the record store and the vector index.

    Args:
        records: the record store.
        vectors: the vector index.
        reform: re-derives a MemCell from messages (the ingest pipeline's ``reform``).
        embed: the engine's embedding function (for profile entries that need their unit again).
        profile_unit: a profile entry as a searchable unit.

    """

    def __init__(
        self, records: RecordStore, vectors: VectorIndex, *, reform: Reform, embed: Embed, profile_unit: ProfileUnit
    ) -> None:
        self.records = records
        self.vectors = vectors
        self.reform = reform
        self.embed = embed
        self.profile_unit = profile_unit
        self._to_purge: dict[str, list[str]] = {}

    # -- entry points --------------------------------------------------------------------------
    def delete_scope(self, scope: str) -> None:
        """Remove everything of a scope: records, lexical index, vectors."""
        # One transaction: the records' delete waits out any outbox drain (which could otherwise
        # write the scope's vectors after ours are gone) and keeps later drains out until the
        # vectors are deleted; a crash before the commit leaves records a repeated delete finds.
        with self.records.transaction():
            self.records.delete_scope(scope)
            self.vectors.delete_scope(scope)

    def delete_memory(self, memory_id: str, restrict: str | None) -> int:
        """Delete one memory by id (in scope ``restrict`` if given); returns 1."""
        found = self.records.find_memory(memory_id, restrict)
        if found is None:
            raise NotFoundError(f"no memory with id {memory_id!r}" + (f" in scope {restrict}" if restrict else ""))
        table, scope = found
        if table == "messages" and restrict is None:
            raise ScopeError(
                "message ids are only unique within a scope: pass the scope ids with delete(memory_id=...)"
            )
        if table == "cells":
            self.delete_cell(scope, memory_id)
        elif table == "messages":
            self.delete_message(scope, memory_id)
        else:
            if table == "facts":
                self._release(scope, [memory_id])
            self.records.delete_record(table, scope, memory_id)
            if table == "scenes":
                self.records.clear_scene(scope, memory_id)
            self._forget_units(scope, [memory_id])
        return 1

    def delete_cell(self, scope: str, cell_id: str) -> None:
        """Delete a MemCell, its messages and all drawn from them (profile entries included)."""
        (cell,) = self.records.cells(scope, [cell_id])
        message_ids = cell.source_message_ids
        doomed = [cell_id, *self._cell_units(scope, cell)]
        with self.records.transaction():
            kept_scenes = self.records.detach_cell(scope, cell_id)
            self.records.delete_messages(scope, message_ids)
            self._release(scope, [f.id for f in cell.facts])
            self._rekey_scenes(scope, kept_scenes)
        doomed += self._drop_evidence(scope, message_ids)
        self._forget_units(scope, doomed)

    def delete_message(self, scope: str, message_id: str) -> None:
        """Delete a message; re-derive the MemCell it was cut into from the remaining messages."""
        cell_id = self.records.message_cell(scope, message_id)
        doomed = [
            message_id,
            *(unit_id for unit_id, _ in self.records.unit_ids_of_messages(scope, [message_id], ["raw"])),
        ]
        if cell_id is None:  # still buffered: only its raw unit was drawn from it
            self.records.delete_messages(scope, [message_id])
            self._forget_units(scope, doomed + self._drop_evidence(scope, [message_id]))
            return
        (cell,) = self.records.cells(scope, [cell_id])
        remaining = [m for m in cell.messages if m.id != message_id]
        doomed += [cell_id, *self._cell_units(scope, cell)]
        with self.records.transaction():
            kept_scenes = self.records.detach_cell(scope, cell_id)  # the others go back to the buffer
            self.records.delete_messages(scope, [message_id])
            self._release(scope, [f.id for f in cell.facts])
            self._rekey_scenes(scope, kept_scenes)
        doomed += self._drop_evidence(scope, [message_id])
        self.records.remove_units(scope, doomed)
        self.records.queue_vectors(scope, [], doomed)
        if remaining:
            profile = {item.id: item for item in self.records.profile_items(scope)}
            reformed = self.reform(scope, remaining)
            self._resettle(scope, [f for c in reformed for f in c.facts])
            # The remaining messages' profile statements are in the profile already (their
            # evidence is): re-applying them must not change it, only the deleted one may.
            self._restore_profile(scope, profile)
        self._purge(scope, doomed)

    # -- helpers ---------------------------------------------------------------------------------
    def _cell_units(self, scope: str, cell: MemCell) -> list[str]:
        units = [unit_id for unit_id, _ in self.records.unit_ids_of_cells(scope, [cell.id], CELL_UNIT_KINDS)]
        buffered = self.records.unit_ids_of_messages(scope, cell.source_message_ids, ["raw"])
        return units + [unit_id for unit_id, _ in buffered]

    def _forget_units(self, scope: str, unit_ids: Sequence[str]) -> None:
        """Drop units from both indexes and the deleted vectors from Chroma's log."""
        unique = list(dict.fromkeys(unit_ids))
        self.records.remove_units(scope, unique)
        self.records.queue_vectors(scope, [], unique)
        self._purge(scope, unique)

    def _purge(self, scope: str, unit_ids: Sequence[str]) -> None:
        self._to_purge.setdefault(scope, []).extend(unit_ids)

    def purge_log(self) -> None:
        """Purge the deleted vectors from Chroma's log, once the outbox has applied the deletes."""
        purge = getattr(self.vectors, "purge_log", None)
        for scope, unit_ids in self._to_purge.items():
            if purge is not None:
                purge(scope, list(dict.fromkeys(unit_ids)))
        self._to_purge.clear()

    def _drop_evidence(self, scope: str, message_ids: Collection[str]) -> list[str]:
        """Take messages out of profile evidence; delete entries left without any. Returns their ids."""
        gone = set(message_ids)
        trimmed: list[ProfileItem] = []
        emptied: list[str] = []
        for item in self.records.profile_items(scope):
            if not gone.intersection(item.evidence):
                continue
            evidence = [e for e in item.evidence if e not in gone]
            if evidence:
                trimmed.append(item.model_copy(update={"evidence": evidence}))
            else:
                emptied.append(item.id)
        with self.records.transaction():
            self.records.rewrite_profile_items(trimmed)
            self.records.delete_profile_items(scope, emptied)
        return emptied

    def _restore_profile(self, scope: str, before: dict[str, ProfileItem]) -> None:
        """Put the profile back as it was before a re-derivation, keeping entries it added."""
        self.records.rewrite_profile_items(list(before.values()))
        current = {item.id: item for item in self.records.profile_items(scope) if item.status == "current"}
        indexed = self.records.unit_ids_of_kind(scope, "profile")
        stray = sorted(indexed - set(current))
        if stray:
            self.records.remove_units(scope, stray)
            self.records.queue_vectors(scope, [], stray)
            self._purge(scope, stray)
        missing = [self.profile_unit(current[i]) for i in sorted(set(current) - indexed)]
        if missing:
            vectors = self.embed([u.indexed_text for u in missing])
            self.records.queue_vectors(scope, [(u.id, u.kind, v) for u, v in zip(missing, vectors, strict=True)], [])
            self.records.put_units(missing)

    def _release(self, scope: str, fact_ids: Sequence[str]) -> None:
        """Facts superseded by deleted facts hold again (unless another fact supersedes them)."""
        released = [
            f.model_copy(update={"superseded_by": None, "valid_until": None})
            for f in self.records.facts_superseded_by(scope, fact_ids)
            if f.id not in set(fact_ids)
        ]
        if released:
            self.records.update_facts(scope, released)
            self._resettle(scope, released)

    def _resettle(self, scope: str, facts: Sequence[Fact]) -> None:
        """Re-run supersession among the current facts of the keys of ``facts``."""
        for subject, attribute in {(f.subject, f.attribute) for f in facts if f.attribute}:
            assert attribute is not None
            supersede_facts(self.records, scope, self.records.current_keyed_facts(scope, subject, attribute))

    def _rekey_scenes(self, scope: str, scene_ids: Sequence[str]) -> None:
        """Rebuild the keywords, title and time span of scenes that lost a MemCell."""
        wanted = set(scene_ids)
        for scene, centroid in self.records.scenes(scope):
            if scene.id not in wanted:
                continue
            members = self.records.cells(scope, scene.cell_ids)
            if not members:
                continue
            keywords: list[str] = []
            terms: dict[str, int] = {}
            for cell in members:
                keywords = _merge_keywords(keywords, cell.title)
                terms = merge_terms(terms, salient_terms(cell))
            rebuilt = scene.model_copy(
                update={
                    "keywords": keywords,
                    "terms": terms,
                    "title": ", ".join(keywords[:3]) or members[0].title,
                    "start_time": min(c.start_time for c in members),
                    "end_time": max(c.end_time for c in members),
                }
            )
            self.records.save_scene(rebuilt, centroid)
