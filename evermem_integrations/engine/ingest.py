"""Phase I and II as one unit of work: buffer -> cut -> extract -> MemCells -> scenes -> profile.

:class:`IngestPipeline` is handed its collaborators and owns the write path. One ``add`` or
``flush`` works in two steps:

1. **Plan**, outside any lock: read the scope's buffer, add the new messages to it, find the
   episode boundaries and extract each closed episode (the slow part, an LLM call on the LLM
   path).
2. **Commit**, in one SQLite write transaction: store the new messages, check that every
   planned episode's messages are still in the buffer (another thread or process may have cut
   them meanwhile: the buffer is the source of truth), build the MemCells, join scenes,
   supersede facts, update the profile, index what is left in the buffer, and queue every
   vector change in the outbox. After commit the outbox is applied to the vector index; a crash
   before that leaves it queued, and the next open applies it.

So a kill at any instant leaves either nothing of the call or all of it in SQLite, and the
vector index converges to what SQLite holds.
"""

from __future__ import annotations

import bisect
import itertools
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from evermem_integrations.engine.consolidation import ProfileManager, SceneClusterer, profile_line, supersede_facts
from evermem_integrations.engine.extraction import (
    Extraction,
    Extractor,
    ProfileDraft,
    message_date_notes,
    message_text,
)
from evermem_integrations.engine.models import Fact, Foresight, MemCell, Message, ProfileItem, stable_id
from evermem_integrations.engine.profile_rules import attribute_questions
from evermem_integrations.engine.protocols import RecordStore
from evermem_integrations.engine.records import Unit, unit_record
from evermem_integrations.engine.segmentation import BoundaryDetector
from evermem_integrations.engine.text import pieces, split_sentences
from evermem_integrations.engine.timeparse import DateNote, with_notes
from evermem_integrations.engine.vectors import VectorIndex

logger = logging.getLogger(__name__)

MESSAGE_PIECE_CHARS = 1_500
"""A message is searched in pieces of at most this many characters (about 400 tokens), cut at
line and sentence ends: a pasted document is found by the passage that answers, and a piece
always fits a context."""

ANSWER_CHARS = 500
"""An assistant's message this long (an explanation, a list, a recipe: several sentences that
belong together) is indexed as said as well as in facts, so "remind me what you said about ..."
finds it whole. A shorter reply (a thanks, a question back) is its facts: indexed whole too, it
competed with what the user said (measured on the bundled assistant chat, whose replies are
about 90 characters: evidence recall 94.8 -> 90.4 at 1,000 tokens; LongMemEval's answers run
to about 1,700)."""

Embed = Callable[[Sequence[str]], np.ndarray]


@dataclass(frozen=True)
class PlannedCell:
    """A closed episode, extracted, waiting for the commit step."""

    messages: list[Message]
    extraction: Extraction | None
    """``None`` for a ready-made MemCell (bulk loads), whose facts are kept as given."""
    cell: MemCell | None = None
    title_vector: np.ndarray | None = None


@dataclass
class IngestReport:
    """What one call of the pipeline stored."""

    added: int = 0
    skipped: int = 0
    cells: list[MemCell] = field(default_factory=list)
    buffered: int = 0


class IngestPipeline:
    """The write path of one store."""

    def __init__(
        self,
        records: RecordStore,
        vectors: VectorIndex,
        embed: Embed,
        extractor: Extractor,
        boundary_detector: BoundaryDetector,
        scenes: SceneClusterer,
        profiles: ProfileManager,
    ) -> None:
        self.records = records
        self.vectors = vectors
        self.embed = embed
        self.extractor = extractor
        self.boundary_detector = boundary_detector
        self.scenes = scenes
        self.profiles = profiles
        self._scope_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def scope_lock(self, scope: str) -> threading.Lock:
        """The lock that threads of this process writing ``scope`` take in turn.

        So they do not extract the same episode twice; processes are kept apart by the
        commit-time check of the buffer.
        """
        with self._locks_guard:
            return self._scope_locks.setdefault(scope, threading.Lock())

    # -- the two entry points ------------------------------------------------------------------
    def ingest(self, scope: str, batch: Sequence[Message], *, final: bool) -> IngestReport:
        """Store ``batch`` in ``scope``'s buffer and cut what is closed (all of it if ``final``)."""
        with self.scope_lock(scope):
            self.apply_outbox()
            fresh = self._unknown(scope, batch)
            if not fresh and not final:
                # Nothing new to cut: the buffer was planned when its last message came in.
                return IngestReport(skipped=len(batch), buffered=self.records.count_buffered(scope))
            buffered = self.records.buffered_messages(scope)
            pending = [*buffered, *fresh]
            pending.sort(key=lambda m: m.timestamp)  # stable: the store's order (time, then arrival)
            planned = self._plan(pending, final=final)
            report = self._commit(scope, fresh, planned)
        report.skipped = len(batch) - report.added
        return report

    def store(self, scope: str, batch: Sequence[Message]) -> IngestReport:
        """Store ``batch`` in ``scope``'s buffer, searchable, and cut nothing (the background mode's ``add``).

        Takes no scope lock: a cut under way (an LLM call, maybe) does not hold it up. The
        commit re-checks which messages are new, and a concurrent cut only takes the messages
        it planned on, so the new ones stay buffered for the next cut.
        """
        self.apply_outbox()
        report = self._commit(scope, self._unknown(scope, batch), [])
        report.skipped = len(batch) - report.added
        return report

    def cut(self, scope: str) -> IngestReport:
        """Cut and extract the closed episodes of ``scope``'s buffer (the background worker's unit of work)."""
        with self.scope_lock(scope):
            self.apply_outbox()
            return self._commit(scope, [], self._plan(self.records.buffered_messages(scope), final=False))

    def store_memcells(self, scope: str, cells: Sequence[MemCell]) -> list[MemCell]:
        """Store ready-made MemCells with their messages through the same commit step."""
        with self.scope_lock(scope):
            titles = list(self.embed([c.title for c in cells])) if cells else []
            planned = [PlannedCell(list(c.messages), None, c, vector) for c, vector in zip(cells, titles, strict=True)]
            return self._commit(scope, [m for c in cells for m in c.messages], planned, claim=False).cells

    def seed_profile(self, scope: str, drafts: Sequence[ProfileDraft]) -> list[ProfileItem]:
        """Apply profile statements that come from outside the chat (the conversation metadata).

        One transaction, like an ``add``: entries written, the ones they retire unindexed.
        """
        with self.scope_lock(scope), self.records.transaction():
            written, retired = self.profiles.apply(scope, drafts)
            units = [profile_unit(item) for item in written]
            self.records.put_units(units)
            self.records.remove_units(scope, [item.id for item in retired])
            vectors = list(self.embed([u.indexed_text for u in units])) if units else []
            self.records.queue_vectors(
                scope, [(u.id, u.kind, v) for u, v in zip(units, vectors, strict=True)], [i.id for i in retired]
            )
        self.apply_outbox()
        return written

    def reform(self, scope: str, messages: Sequence[Message]) -> list[MemCell]:
        """Re-derive one MemCell from messages put back in the buffer (a deletion took one of its messages)."""
        with self.scope_lock(scope):
            return self._commit(scope, [], self._extract([list(messages)])).cells

    # -- plan ------------------------------------------------------------------------------------
    def _unknown(self, scope: str, batch: Sequence[Message]) -> list[Message]:
        known = self.records.known_message_keys(scope, batch)
        fresh: list[Message] = []
        for message in batch:
            if message.id in known or message.content_key in known:
                continue
            known.update((message.id, message.content_key))
            fresh.append(message)
        return fresh

    def _plan(self, pending: Sequence[Message], *, final: bool) -> list[PlannedCell]:
        if not pending:
            return []
        cuts = self.boundary_detector.cuts(pending, final=final)
        bounds = [0, *cuts] + ([len(pending)] if final else [])
        segments = [list(pending[start:end]) for start, end in itertools.pairwise(bounds) if end > start]
        return self._extract(segments)

    def _extract(self, segments: Sequence[list[Message]]) -> list[PlannedCell]:
        """Extract closed episodes and embed their titles."""
        if not segments:
            return []
        extractions = [self.extractor.extract(messages, participants_of(messages)) for messages in segments]
        # The title's keywords place a MemCell in a scene: a whole-episode embedding of a
        # static model mostly encodes chat style, which every episode of a conversation shares.
        titles = self.embed([extraction.title for extraction in extractions])
        return [
            PlannedCell(messages, extraction, title_vector=vector)
            for messages, extraction, vector in zip(segments, extractions, titles, strict=True)
        ]

    # -- commit ----------------------------------------------------------------------------------
    def _commit(
        self, scope: str, fresh: Sequence[Message], planned: Sequence[PlannedCell], *, claim: bool = True
    ) -> IngestReport:
        report = IngestReport()
        with self.records.transaction():
            nested = self.records.nested
            # Another writer may have stored some of these since the plan was made.
            stored = self._unknown(scope, fresh) if claim else list(fresh)
            self.records.insert_messages(scope, stored)
            report.added = len(stored)
            upserts: dict[str, Unit] = {}
            deletes: set[str] = set()
            seen_facts: set[str] = set()
            for plan in planned:
                ids = [m.id for m in plan.messages]
                if claim and len(self.records.buffered_ids(scope, ids)) != len(set(ids)):
                    # Cut by another writer meanwhile: what is left stays buffered for the next cut.
                    logger.debug("episode of %d messages already cut elsewhere; left to the next cut", len(ids))
                    break
                cell, written, retired = self._build(scope, plan, seen_facts)
                dated = plan.extraction.date_notes if plan.extraction is not None else None
                units = cell_units(cell, dated) + [profile_unit(item) for item in written]
                buffered_units = self.records.unit_ids_of_messages(scope, ids, ["raw"])
                stale = [unit_id for unit_id, _ in buffered_units] + [p.id for p in retired]
                self.records.save_cell(cell, units, stale)
                assert plan.title_vector is not None
                scene = self.scenes.assign(cell, plan.title_vector)
                supersede_facts(self.records, scope, cell.facts)
                for unit_id in stale:
                    upserts.pop(unit_id, None)
                    deletes.add(unit_id)
                for unit in units:
                    deletes.discard(unit.id)
                    upserts[unit.id] = unit
                report.cells.append(cell.model_copy(update={"scene_id": scene.id}))
            raw = self._buffer_units(scope)
            upserts.update({u.id: u for u in raw})
            batch = list(upserts.values())
            vectors = list(self.embed([u.indexed_text for u in batch])) if batch else []
            self.records.put_units(raw)
            self.records.queue_vectors(
                scope, [(u.id, u.kind, v) for u, v in zip(batch, vectors, strict=True)], sorted(deletes)
            )
            report.buffered = self.records.count_buffered(scope)
        if nested:  # part of a larger unit of work (a deletion), which applies the outbox after its commit
            return report
        try:
            self.apply_outbox()
        except Exception as exc:  # the call's work is committed; its vectors stay queued
            logger.warning("vector index not updated (%s); the queued changes are applied at the next write", exc)
        return report

    def _build(
        self, scope: str, plan: PlannedCell, seen_facts: set[str]
    ) -> tuple[MemCell, list[ProfileItem], list[ProfileItem]]:
        messages = plan.messages
        if plan.extraction is None:
            assert plan.cell is not None
            return plan.cell, [], []
        extraction = plan.extraction
        cell = build_cell(scope, messages, extraction, self.records, seen_facts)
        written, retired = self.profiles.apply(scope, extraction.profile)
        return cell, written, retired

    def _buffer_units(self, scope: str) -> list[Unit]:
        """Units that make buffered messages searchable before any MemCell holds them.

        Built after cutting, so messages that became MemCells in the same call are never
        indexed twice; only messages without a unit yet are indexed.
        """
        buffered = self.records.buffered_messages(scope)
        indexed = {
            message_id for _, message_id in self.records.unit_ids_of_messages(scope, [m.id for m in buffered], ["raw"])
        }
        missing = [m for m in buffered if m.id not in indexed]
        if not missing:
            return []
        questions = questions_answered(buffered)
        return [
            unit
            for m in missing
            for unit in message_units(scope, m, kind="raw", cell_id=None, context=questions.get(m.id, ""))
        ]

    # -- the vector side ---------------------------------------------------------------------------
    def apply_outbox(self) -> None:
        """Bring the vector index up to what SQLite committed (queued upserts and deletes).

        Runs inside a write transaction so that no other writer commits in between: the
        changes are applied in commit order and a later delete is never overtaken by an
        earlier upsert of the same unit.
        """
        if not self.records.has_pending_vectors():
            return
        with self.records.transaction():
            pending = self.records.pending_vectors()
            if not pending:
                self._refresh_vector_metadata()
                return
            for scope, changes in itertools.groupby(sorted(pending, key=lambda p: p.scope), key=lambda p: p.scope):
                rows = list(changes)
                # Deletes first, as a direct delete-then-rederive would: the purge of Chroma's log
                # after a deletion (lifecycle) keeps only what follows a unit's delete marker.
                deletes = [p.unit_id for p in rows if p.vector is None]
                if deletes:
                    self.vectors.delete(scope, deletes)
                upserts = [p for p in rows if p.vector is not None]
                if upserts:
                    # No metadata: the index reads what its filters need of the committed unit rows.
                    self.vectors.upsert(
                        [p.unit_id for p in upserts],
                        np.stack([p.vector for p in upserts if p.vector is not None]),
                        scope,
                        [p.kind for p in upserts],
                    )
            self.records.clear_vectors(max(p.seq for p in pending))
        self._refresh_vector_metadata()

    def _refresh_vector_metadata(self) -> None:
        """Write the metadata a store migrated from before filters lacks into its vectors."""
        while batch := self.records.pending_refresh():
            with self.records.transaction():
                for scope, rows in itertools.groupby(sorted(batch, key=lambda r: r[1]), key=lambda r: r[1]):
                    payloads = self.records.vector_metadata(scope, [unit_id for _, _, unit_id in rows])
                    if payloads:
                        ids = list(payloads)
                        self.vectors.update_metadata(
                            scope, ids, [payloads[i][0] for i in ids], [payloads[i][1] for i in ids]
                        )
                self.records.clear_refresh(max(seq for seq, _, _ in batch))


def participants_of(messages: Sequence[Message]) -> list[str]:
    """Who speaks in an episode, in order of first message."""
    return list(dict.fromkeys(m.sender for m in messages))


def build_cell(
    scope: str, messages: Sequence[Message], extraction: Extraction, records: RecordStore, seen: set[str]
) -> MemCell:
    """A MemCell from an episode's extraction; facts already stored (or seen in ``seen``) are left out."""
    cell_id = stable_id(scope, messages[0].id, messages[-1].id, len(messages), prefix="cell_")
    fact_ids = [stable_id(scope, f.subject, " ".join(f.text.lower().split()), prefix="fact_") for f in extraction.facts]
    seen.update(records.existing_fact_ids(scope, fact_ids))
    roles = {m.id: m.role for m in messages}
    facts = []
    for fact_id, draft in zip(fact_ids, extraction.facts, strict=True):
        if fact_id in seen:  # the same statement again adds no new fact
            continue
        seen.add(fact_id)
        said_as = {roles.get(source) for source in draft.source_message_ids}
        role = said_as.pop() if len(said_as) == 1 else None
        facts.append(Fact(id=fact_id, cell_id=cell_id, role=role, **draft.model_dump()))
    foresight = [
        Foresight(id=stable_id(scope, f.subject, f.text, prefix="fore_"), cell_id=cell_id, **f.model_dump())
        for f in extraction.foresight
    ]
    return MemCell(
        id=cell_id,
        scope=scope,
        title=extraction.title,
        episode=extraction.episode,
        facts=facts,
        foresight=list({f.id: f for f in foresight}.values()),
        participants=participants_of(messages),
        start_time=messages[0].timestamp,
        end_time=messages[-1].timestamp,
        messages=list(messages),
    )


def message_units(
    scope: str,
    message: Message,
    *,
    kind: str,
    cell_id: str | None,
    context: str = "",
    notes: Sequence[DateNote] | None = None,
) -> list[Unit]:
    """A message as said, relative dates made absolute, as one unit per piece (see :data:`MESSAGE_PIECE_CHARS`).

    Each points back at its message; a piece of a message cut in several also says where in
    it it lies (``piece`` of ``pieces``, characters ``start`` to ``end``). ``notes``: where its
    dates go, when its extraction found them already (:func:`message_date_notes`).
    """
    text = message_text(message)
    parts = pieces(text, MESSAGE_PIECE_CHARS)
    if notes is None:
        notes = message_date_notes(text, message.timestamp)
    ends = [n.at for n in notes]  # in order: a pasted document's pieces each take theirs by bisection
    prefix = "raw_" if kind == "raw" else "msg_"
    units = []
    for index, part in enumerate(parts):
        within = notes[bisect.bisect_right(ends, part.start) : bisect.bisect_right(ends, part.end)]
        annotated = with_notes(part.text, within, offset=part.start)
        data: dict[str, Any] = {"subject": message.sender, "source_message_ids": [message.id]}
        if message.role is not None:
            data["role"] = message.role
        if len(parts) > 1:
            data |= {"piece": index + 1, "pieces": len(parts), "start": part.start, "end": part.end}
        units.append(
            Unit(
                id=stable_id(scope, message.id, prefix=prefix)
                if index == 0
                else stable_id(scope, message.id, index, prefix=prefix),
                scope=scope,
                kind=kind,
                text=f"{message.sender}: {annotated}",
                cell_id=cell_id,
                timestamp=message.timestamp,
                data=data,
                context=context,
            )
        )
    return units


def cell_units(cell: MemCell, dated: Mapping[str, Sequence[DateNote]] | None = None) -> list[Unit]:
    """The searchable units of a MemCell: its episode, its messages as said, facts and foresight.

    ``dated``: where its messages' dates go, by message id, as its extraction found them
    (:attr:`Extraction.date_notes`); a message not in it is dated here.
    """
    dated = dated or {}
    units = [
        Unit(
            id=f"{cell.id}:episode",
            scope=cell.scope,
            kind="episode",
            text=f"{cell.title}. {cell.episode}",
            cell_id=cell.id,
            timestamp=cell.start_time,
            data={"source_message_ids": cell.source_message_ids, "subject": None, "title": cell.title},
            # The narrative is a few salient sentences; the episode is found by everything said in it.
            context=" ".join(f"{m.sender}: {message_text(m)}" for m in cell.messages),
        )
    ]

    questions = questions_answered(cell.messages)

    def record_unit(kind: str, record: Fact | Foresight, timestamp: datetime) -> Unit:
        return Unit(
            id=record.id,
            scope=cell.scope,
            kind=kind,
            text=record.text,
            cell_id=cell.id,
            timestamp=timestamp,
            data=unit_record(record),
            context=" ".join(questions.get(m, "") for m in record.source_message_ids).strip(),
        )

    units += [
        unit
        for m in cell.messages
        if m.role != "assistant" or len(message_text(m)) >= ANSWER_CHARS
        for unit in message_units(
            cell.scope, m, kind="message", cell_id=cell.id, context=questions.get(m.id, ""), notes=dated.get(m.id)
        )
    ]
    units += [record_unit("fact", f, f.timestamp) for f in cell.facts]
    units += [record_unit("foresight", f, f.start) for f in cell.foresight]
    return units


def questions_answered(messages: Sequence[Message]) -> dict[str, str]:
    """For each message that replies to a question, that question (message id -> question text).

    A reply is the next message from someone else; its facts are indexed with the question
    so that a query worded like the question reaches an answer that does not repeat it.
    """
    answered: dict[str, str] = {}
    for previous, message in itertools.pairwise(messages):
        if previous.sender == message.sender:
            continue
        asked = [s for s in split_sentences(message_text(previous)) if s.endswith("?")]
        if asked:
            answered[message.id] = " ".join(asked)
    return answered


def profile_unit(item: ProfileItem) -> Unit:
    """A profile entry as a searchable unit."""
    return Unit(
        id=item.id,
        scope=item.scope,
        kind="profile",
        text=profile_line(item),
        cell_id=None,
        timestamp=item.valid_from,
        data=unit_record(item),
        context=attribute_questions(item.attribute),
    )
