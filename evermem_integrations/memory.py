"""``EverMem``: the public entry point of the engine.

It wires the three phases together over two stores (the SQLite record store with its BM25
index, and Chroma for vectors) and exposes a small scoped API, sync and async:
``add``/``flush`` (Phase I and II), ``search`` (Phase III), ``get``, ``delete``,
``set_conversation_meta``, ``export_scope``/``import_scope``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, Field, ValidationError

from evermem_integrations.engine import filters as filtering
from evermem_integrations.engine import transfer, validation
from evermem_integrations.engine.background import BackgroundCutter
from evermem_integrations.engine.consolidation import (
    ProfileConfig,
    ProfileManager,
    SceneClusterer,
    SceneConfig,
    is_current_state,
    seed_drafts,
)
from evermem_integrations.engine.database import DatabaseConfig
from evermem_integrations.engine.embeddings import Embedder, StaticEmbedder, embed_distinct
from evermem_integrations.engine.extraction import Extractor, OfflineExtractor
from evermem_integrations.engine.ingest import IngestPipeline, profile_unit
from evermem_integrations.engine.lifecycle import Forgetting
from evermem_integrations.engine.models import (
    ConversationMeta,
    ConversationScene,
    Fact,
    Foresight,
    MemCell,
    MemoryKind,
    MemScene,
    Message,
    Profile,
    Scope,
    SearchMethod,
    SearchResult,
    check_scope_ids,
)
from evermem_integrations.engine.protocols import RecordStore
from evermem_integrations.engine.recollection import QueryPlanner, RecollectionConfig, Recollector
from evermem_integrations.engine.records import SQLiteRecordStore
from evermem_integrations.engine.segmentation import BoundaryDetector, OfflineBoundaryDetector, SegmentationConfig
from evermem_integrations.engine.timeparse import parse_timestamp
from evermem_integrations.engine.vectors import (
    EXACT_SCOPE_VECTORS,
    ChromaVectorIndex,
    TieredVectorIndex,
    VectorIndex,
    chroma_client,
    is_served,
)
from evermem_integrations.errors import (
    ConfigurationError,
    InputError,
    InvalidFilterError,
    InvalidMessageError,
    InvalidQueryError,
    ScopeError,
)

logger = logging.getLogger(__name__)

MessageInput = Message | Mapping[str, Any]
GetKind = Literal["episode", "fact", "foresight", "profile", "raw", "scene", "message"]
SQLITE_FILE = "evermem.sqlite3"


class AddResult(BaseModel):
    """What :meth:`EverMem.add` did."""

    added: int = Field(description="new messages stored")
    skipped: int = Field(description="messages already stored (same id, or same sender, content and time)")
    memcells: list[str] = Field(default_factory=list, description="ids of MemCells cut by this call")
    buffered: int = Field(description="messages waiting in the buffer for an episode boundary")


class ScopeStats(BaseModel):
    """How much a scope holds."""

    messages: int
    buffered: int
    memcells: int
    facts: int
    foresight: int
    scenes: int
    profile_items: int


class EverMem:
    """Long-term memory: messages in, MemCells and MemScenes kept, context out.

    Args:
        path: folder for the embedded store (Chroma and the SQLite side index). ``None``
            keeps everything in memory (tests, notebooks). With ``chroma_url`` it still
            holds the SQLite side index.
        chroma_url: a Chroma server (``chroma run``) for the vectors instead of embedded Chroma.
        database_url: a PostgreSQL server (``postgresql://user:pass@host:5432/db``) for the records
            instead of the SQLite side index, so processes on several machines share one memory;
            needs ``chroma_url`` (or a ``chroma_client`` of a server) for the vectors, and ``path``
            is then not used. Needs the ``postgres`` extra.
        database: a :class:`~evermem_integrations.engine.database.DatabaseConfig` for
            ``database_url``: the schema, connections per process, timeouts.
        chroma_client: a ready Chroma client (overrides ``path``/``chroma_url`` for vectors).
        collection_name: prefix of the Chroma collections (scopes share a fixed set of them).
        exact_search_vectors: a scope of up to this many vectors is searched exactly in the
            record store (SQLite or PostgreSQL), in the same transaction as its records; past
            it, its vectors move to Chroma's HNSW index once. ``0`` keeps every scope in Chroma.
        embedder: the embedding model; defaults to the bundled offline static model.
        llm: an :class:`~evermem_integrations.engine.llm.LLMConfig` (or a ready
            :class:`~evermem_integrations.engine.llm.ChatLLM`) to extract with an
            OpenAI-compatible model and enable ``method="agentic"``; ``None`` is fully offline.
        extractor, boundary_detector, planner: replace one component outright.
        background: cut and extract in a worker thread, so ``add`` returns once the messages
            are stored and searchable; :meth:`flush` and :meth:`wait` drain it. ``None`` (the
            default) turns it on when an LLM is configured, whose calls would otherwise make
            every ``add`` wait, and off for the offline backend.

    """

    def __init__(
        self,
        path: str | Path | None = "./.evermem",
        *,
        chroma_url: str | None = None,
        database_url: str | None = None,
        database: DatabaseConfig | None = None,
        chroma_client: Any = None,
        collection_name: str = "evermem",
        exact_search_vectors: int = EXACT_SCOPE_VECTORS,
        embedder: Embedder | None = None,
        llm: Any = None,
        extractor: Extractor | None = None,
        boundary_detector: BoundaryDetector | None = None,
        planner: QueryPlanner | None = None,
        segmentation: SegmentationConfig | None = None,
        scenes: SceneConfig | None = None,
        profile: ProfileConfig | None = None,
        recollection: RecollectionConfig | None = None,
        background: bool | None = None,
    ) -> None:
        if chroma_url is not None and chroma_client is not None:
            raise ConfigurationError("pass chroma_url or chroma_client, not both")
        if database_url is not None and chroma_url is None and chroma_client is None:
            # Embedded Chroma is one per process: each process would hold its own vectors.
            raise ConfigurationError(
                "database_url shares the records between processes, the vectors must be shared too: "
                "pass chroma_url='http://host:8000' (a `chroma run --path DIR --port 8000` server)"
            )
        self._owned_llm: Any = None
        self.path = Path(path) if path is not None and database_url is None else None
        if self.path is not None:
            self.path.mkdir(parents=True, exist_ok=True)
        self.embedder: Embedder = embedder or StaticEmbedder()
        self.records = open_records(self.path, database_url, database)
        self._ephemeral = self.path is None and database_url is None and chroma_url is None and chroma_client is None
        if self._ephemeral:  # Chroma's in-memory client is one per process: keep instances apart
            collection_name = f"{collection_name}-{uuid.uuid4().hex[:12]}"
        try:
            client = chroma_client or chroma_client_for(self.path, chroma_url)
            self.vectors: VectorIndex = TieredVectorIndex(
                self.records, ChromaVectorIndex(client, collection_name), exact_search_vectors
            )
        except BaseException:  # a busy or unreachable vector store, a wrong limit: leave no open connection
            self.records.close()
            raise
        self.extractor: Extractor = extractor or OfflineExtractor()
        self.boundary_detector: BoundaryDetector = boundary_detector or OfflineBoundaryDetector(
            self._embed, segmentation
        )
        if llm is not None:
            from evermem_integrations.engine.llm import llm_components

            components = llm_components(llm, offline_extractor=self.extractor, offline_detector=self.boundary_detector)
            if llm is not components.llm:  # built here from a config: closed with the engine
                self._owned_llm = components.llm
            self.extractor = extractor or components.extractor
            self.boundary_detector = boundary_detector or components.boundary_detector
            planner = planner or components.planner
        self.scenes = SceneClusterer(self.records, scenes)
        self.profiles = ProfileManager(self.records, profile)
        self.ingest = IngestPipeline(
            self.records, self.vectors, self._embed, self.extractor, self.boundary_detector, self.scenes, self.profiles
        )
        self.ingest.apply_outbox()  # vector changes a crash left queued
        self.recollector = Recollector(
            self.records, self.vectors, self.embedder, recollection, planner, concurrent_lookups=is_served(client)
        )
        self._background: BackgroundCutter | None = None
        if background if background is not None else llm is not None:
            self._background = BackgroundCutter(self.ingest.cut)
            for key in self.records.scopes():  # work a stop left undone: the buffer was persisted
                if self.records.count_buffered(key):
                    self._background.submit(key)

    # -- lifecycle ---------------------------------------------------------------------------
    def close(self) -> None:
        """Release the SQLite connection and an LLM client built here; drop an in-memory store.

        A background cut under way is finished first; queued ones stay in the persisted buffer.
        """
        if self._background is not None:
            self._background.close()
        self.recollector.close()
        self.records.close()
        if self._ephemeral:
            self.vectors.drop()
        closer = getattr(self._owned_llm, "close", None)
        if closer is not None:
            closer()

    def __enter__(self) -> EverMem:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return embed_distinct(self.embedder, texts)

    # -- Phase I and II: add and flush ----------------------------------------------------------
    def add(
        self,
        messages: MessageInput | Iterable[MessageInput],
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
    ) -> AddResult:
        """Store messages in a scope's buffer and cut finished episodes into MemCells.

        The whole batch is validated before anything is written: one bad message raises
        :class:`InvalidMessageError` naming it, and nothing of the batch is stored. Messages
        already stored (same id, or same sender, content and time) are skipped. In background
        mode the episodes are cut afterwards by the worker (``memcells`` is then empty).
        """
        scope = Scope.of(user_id, group_id, agent_id)
        batch = self._coerce(messages, scope)
        if self._background is not None:
            report = self.ingest.store(scope.key, batch)
            if report.added:
                self._background.submit(scope.key)
        else:
            report = self.ingest.ingest(scope.key, batch, final=False)
        return AddResult(
            added=report.added,
            skipped=report.skipped,
            memcells=[c.id for c in report.cells],
            buffered=report.buffered,
        )

    def flush(
        self, *, user_id: str | None = None, group_id: str | None = None, agent_id: str | None = None
    ) -> list[MemCell]:
        """Force the scope's pending buffer into MemCells (the tail becomes one too).

        In background mode it waits for the scope's queued work first.
        """
        scope = Scope.of(user_id, group_id, agent_id).key
        if self._background is not None:
            self._background.wait(scope)
        return self.ingest.ingest(scope, [], final=True).cells

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the background worker has cut every scope's closed episodes.

        Returns False when ``timeout`` (seconds) passed first; True at once without background mode.
        """
        return self._background.wait(timeout=timeout) if self._background is not None else True

    def _coerce(self, messages: MessageInput | Iterable[MessageInput], scope: Scope) -> list[Message]:
        if isinstance(messages, Message | Mapping):
            messages = [messages]
        if isinstance(messages, str | bytes):
            raise InvalidMessageError(
                "add() takes messages (dicts or Message), not a string: wrap it as {'sender': ..., 'content': ...}"
            )
        if not isinstance(messages, Iterable):
            raise InvalidMessageError(f"add() takes a message or a list of messages, got {type(messages).__name__}")
        meta = self.records.meta(scope.key)
        coerced = []
        for index, raw in enumerate(messages):
            try:
                coerced.append(
                    raw if isinstance(raw, Message) else Message.model_validate(_normalise(raw, scope, meta))
                )
            except ValidationError as exc:
                reason = "; ".join(_reason(err) for err in exc.errors())
                raise InvalidMessageError(f"message {index}: {reason}") from None
            except InvalidMessageError as exc:
                raise InvalidMessageError(f"message {index}: {exc}") from None
        return coerced

    def add_memcells(
        self,
        cells: Sequence[MemCell],
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
    ) -> list[MemCell]:
        """Store ready-made MemCells (and their messages) in a scope, skipping Phase I.

        For bulk loads and imports whose episodes were cut and extracted elsewhere: the
        MemCells take the same write path as flushed episodes (units and BM25 entries,
        vectors, scenes, supersession of older keyed facts), as one batch. Ids are kept as
        given, so a MemCell or fact stored again replaces the earlier one; the profile is
        left as it is. Returns the MemCells with the scenes they joined.
        """
        scope = Scope.of(user_id, group_id, agent_id).key
        strangers = sorted({c.scope for c in cells} - {scope})
        if strangers:
            raise ScopeError(f"MemCells of scope {', '.join(strangers)} given for scope {scope}")
        return self.ingest.store_memcells(scope, cells)

    # -- Phase III: search ----------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        token_budget: int | None = None,
        method: SearchMethod = "hybrid",
        kinds: Sequence[MemoryKind] | None = None,
        filters: Mapping[str, Any] | None = None,
        current_time: datetime | str | int | float | None = None,
        limit: int | None = None,
        exclude_message_ids: Collection[str] | None = None,
    ) -> SearchResult:
        """Answer ``query`` with the memories of one scope, fitted to ``token_budget``.

        Args:
            query: what the user asked.
            user_id: scope id (at least one of user_id, group_id, agent_id; exact match).
            group_id: scope id.
            agent_id: scope id.
            token_budget: tokens (cl100k_base) the rendered ``context`` may use (default 2000).
            method: ``keyword`` (BM25), ``vector``, ``hybrid`` (both, fused), ``scene``
                (hybrid, then scene-guided pooling) or ``agentic`` (needs an LLM).
            kinds: which memory kinds to rank (default facts, buffered messages, foresight
                and profile entries; add ``"episode"`` for whole narratives).
            filters: a filter over the built-in fields (``subject``/``sender``, ``kind``,
                ``scene_id``, ``cell_id``, ``timestamp``; ``after``/``before``) and the source
                messages' ``metadata``, e.g. ``{"channel": "slack", "thread": {"$in": ["t1", "t2"]}}``
                (see :mod:`evermem_integrations.engine.filters`); raises
                :class:`InvalidFilterError` naming the fix. The scope is applied apart from it.
            current_time: the moment foresight validity is judged at (default: now).
            limit: at most this many items in ``items`` (the context is not affected).
            exclude_message_ids: leave out memories drawn only from these messages, e.g. the
                chat window the prompt already shows; the budget goes to other memories.

        """
        query = validation.query(query)
        scope = Scope.of(user_id, group_id, agent_id)
        moment = _moment(current_time)
        return self.recollector.search(
            query,
            scope.key,
            method=validation.choice(method, "method", get_args(SearchMethod)),  # type: ignore[arg-type]
            token_budget=validation.token_budget(token_budget),
            kinds=validation.choices(kinds, "kinds", get_args(MemoryKind)),  # type: ignore[arg-type]
            filters=filters,
            current_time=moment,
            limit=None if limit is None else validation.count(limit, "limit", minimum=0),
            exclude_message_ids=validation.message_ids(exclude_message_ids),
        )

    # -- browsing ----------------------------------------------------------------------------------
    def get(
        self,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        kind: GetKind = "episode",
        filters: Mapping[str, Any] | None = None,
        limit: int = 20,
        offset: int = 0,
    ) -> list[Any]:
        """Browse stored memories of one kind, in time order, with filters and paging.

        Returns MemCells (``episode``), Facts, Foresight, ProfileItems, MemScenes, buffered
        Messages (``raw``) or every stored Message (``message``). ``filters`` is the language of
        :meth:`search`; a MemCell is about its participants and holds its messages' metadata, a
        scene those of its MemCells.
        """
        scope = Scope.of(user_id, group_id, agent_id).key
        kind = validation.choice(kind, "kind", get_args(GetKind))  # type: ignore[assignment]
        limit = validation.count(limit, "limit", minimum=0)
        offset = validation.count(offset, "offset", minimum=0)
        flt = filtering.parse(filters)
        if kind == "scene":
            scenes = sorted((s for s, _ in self.records.scenes(scope)), key=lambda s: s.start_time)
            return self._browse_scenes(scope, scenes, flt)[offset : offset + limit]
        if kind in ("raw", "message"):
            messages = self.records.buffered_messages(scope) if kind == "raw" else self.records.all_messages(scope)
            passing = [
                m
                for m in messages
                if filtering.matches(
                    flt,
                    filtering.Target(kind, (m.sender,), m.timestamp, filtering.merge_metadata([m.metadata])),
                )
            ]
            return passing[offset : offset + limit]
        metadata_of = {m.id: m.metadata for m in self.records.all_messages(scope)}

        def target(
            sources: Sequence[str], subjects: Sequence[str], moment: datetime, scene: str | None, cell: str | None
        ) -> filtering.Target:
            merged = filtering.merge_metadata(metadata_of[i] for i in sources if i in metadata_of)
            return filtering.Target(kind, tuple(subjects), moment, merged, scene, cell)

        records: list[Any]
        if kind == "episode":
            # A MemCell is about everyone who took part in it.
            records = [
                c
                for c in self.records.cells(scope)
                if filtering.matches(flt, target(c.source_message_ids, c.participants, c.start_time, c.scene_id, c.id))
            ]
        elif kind in ("fact", "foresight"):
            scene_of = {c.id: c.scene_id for c in self.records.cells(scope)}
            dated: Sequence[Fact | Foresight] = (
                self.records.facts(scope) if kind == "fact" else self.records.foresight(scope)
            )
            records = [
                r
                for r in dated
                if filtering.matches(
                    flt,
                    target(
                        r.source_message_ids,
                        [r.subject],
                        r.timestamp if isinstance(r, Fact) else r.start,
                        scene_of.get(r.cell_id),
                        r.cell_id,
                    ),
                )
            ]
        else:
            records = [
                p
                for p in self.records.profile_items(scope)
                if filtering.matches(flt, target(p.evidence, [p.subject], p.valid_from, None, None))
            ]
        return records[offset : offset + limit]

    def _browse_scenes(self, scope: str, scenes: Sequence[MemScene], flt: filtering.Filter) -> list[MemScene]:
        """Scenes passing a filter: a scene holds the metadata and people of its MemCells."""
        if filtering.is_empty(flt):
            return list(scenes)
        cells = {c.id: c for c in self.records.cells(scope)}
        passing = []
        for scene in scenes:
            members = [cells[i] for i in scene.cell_ids if i in cells]
            people = tuple(dict.fromkeys(p for c in members for p in c.participants))
            merged = filtering.merge_metadata(m.metadata for c in members for m in c.messages)
            if filtering.matches(flt, filtering.Target("scene", people, scene.start_time, merged, scene.id, None)):
                passing.append(scene)
        return passing

    def get_profile(
        self,
        subject: str | None = None,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        current_time: datetime | str | int | float | None = None,
        include_history: bool = False,
    ) -> list[Profile]:
        """Profiles of the scope's participants: traits apart from still-valid states."""
        scope = Scope.of(user_id, group_id, agent_id).key
        if subject is not None:
            validation.identifier(subject, "subject", InvalidQueryError)
        moment = _moment(current_time)
        by_subject: dict[str, Profile] = {}
        for item in sorted(self.records.profile_items(scope, subject), key=lambda i: i.valid_from):
            if not include_history and not is_current_state(item, moment):
                continue
            profile = by_subject.setdefault(item.subject, Profile(subject=item.subject))
            (profile.traits if item.category == "trait" else profile.states).append(item)
        return list(by_subject.values())

    def stats(
        self, *, user_id: str | None = None, group_id: str | None = None, agent_id: str | None = None
    ) -> ScopeStats:
        """Counts of what a scope holds."""
        scope = Scope.of(user_id, group_id, agent_id).key
        count = self.records.count
        return ScopeStats(
            messages=count("messages", scope),
            buffered=self.records.count_buffered(scope),
            memcells=count("cells", scope),
            facts=count("facts", scope),
            foresight=count("foresight", scope),
            scenes=count("scenes", scope),
            profile_items=count("profile", scope),
        )

    def scopes(self) -> list[Scope]:
        """Every scope that holds memories."""
        return [Scope.from_key(key) for key in self.records.scopes()]

    # -- conversation metadata ------------------------------------------------------------------
    def set_conversation_meta(
        self,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        scene: ConversationScene = "assistant",
        user_details: Mapping[str, Any] | None = None,
        timezone: str = "UTC",
        tags: Sequence[str] = (),
        description: str | None = None,
    ) -> ConversationMeta:
        """Describe a conversation: ``assistant`` (a user and an AI) or ``group_chat``."""
        scope = Scope.of(user_id, group_id, agent_id).key
        user_details = validation.metadata(user_details or {}, "user_details", InputError)
        if isinstance(tags, str | bytes) or not isinstance(tags, Sequence | set | frozenset):
            raise InputError(f"tags must be a list of strings, got {type(tags).__name__}")
        try:
            meta = ConversationMeta(
                scene=scene,
                user_details=dict(user_details or {}),
                timezone=timezone,
                tags=list(tags),
                description=description,
            )
        except ValidationError as exc:
            raise InvalidFilterError("; ".join(_reason(e) for e in exc.errors())) from None
        self.records.save_meta(scope, meta)
        if user_details:
            default_subject = user_id or group_id or agent_id or "user"
            self.ingest.seed_profile(scope, seed_drafts(user_details, default_subject, datetime.now(UTC)))
        return meta

    def get_conversation_meta(
        self, *, user_id: str | None = None, group_id: str | None = None, agent_id: str | None = None
    ) -> ConversationMeta:
        """The conversation's metadata (defaults if never set)."""
        return self.records.meta(Scope.of(user_id, group_id, agent_id).key) or ConversationMeta()

    # -- deletion --------------------------------------------------------------------------------
    def delete(
        self,
        memory_id: str | None = None,
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
    ) -> int:
        """Delete one memory by id, or everything of a user, group or agent.

        ``delete(user_id="u1")`` removes every scope that has ``user_id == "u1"`` (with any
        group or agent), from Chroma, the BM25 index, scenes, profile and buffer. With a
        ``memory_id`` and scope ids, only that scope is searched for the id. Returns the number
        of scopes (or records) removed.
        """
        if any(value is not None for value in (user_id, group_id, agent_id)):
            check_scope_ids(user_id, group_id, agent_id)
        if memory_id is not None:
            validation.identifier(memory_id, "memory_id", InvalidQueryError)
        if memory_id is None:
            if user_id is None and group_id is None and agent_id is None:
                raise ScopeError("delete() needs a memory_id or a scope (user_id=, group_id= or agent_id=)")
            wanted = {"user_id": user_id, "group_id": group_id, "agent_id": agent_id}
            doomed = [
                s
                for s in self.scopes()
                if all(value is None or getattr(s, name) == value for name, value in wanted.items())
            ]
            for scope in doomed:
                self._delete_scope(scope.key)
            return len(doomed)
        restrict = Scope.of(user_id, group_id, agent_id).key if any((user_id, group_id, agent_id)) else None
        return self._delete_memory(memory_id, restrict)

    def _delete_scope(self, scope: str) -> None:
        self._forgetting().delete_scope(scope)

    def _delete_memory(self, memory_id: str, restrict: str | None) -> int:
        # One transaction: the records, the re-derived MemCell and the queued vector changes
        # commit together; the vector index follows from the outbox after commit.
        forgetting = self._forgetting()
        with self.records.transaction():
            removed = forgetting.delete_memory(memory_id, restrict)
        self.ingest.apply_outbox()
        forgetting.purge_log()
        return removed

    def _forgetting(self) -> Forgetting:
        # A MemCell that loses a message is re-derived through the write path of flushed episodes.
        return Forgetting(
            self.records,
            self.vectors,
            reform=self.ingest.reform,
            embed=self._embed,
            profile_unit=profile_unit,
        )

    # -- export / import -------------------------------------------------------------------------
    def export_scope(
        self, *, user_id: str | None = None, group_id: str | None = None, agent_id: str | None = None
    ) -> dict[str, Any]:
        """Everything a scope holds, as stored, as JSON-ready data (:class:`ScopeExport` fields).

        Messages (and which are still buffered), MemCells with facts and foresight, scenes,
        profile entries current and superseded, conversation settings and the searchable units;
        :meth:`import_scope` writes it into any store, embedded or server, with nothing lost.
        """
        scope = Scope.of(user_id, group_id, agent_id)
        return transfer.export_scope(self.records, scope, self.embedder.name).model_dump(mode="json")

    def import_scope(
        self,
        data: Mapping[str, Any],
        *,
        user_id: str | None = None,
        group_id: str | None = None,
        agent_id: str | None = None,
        rederive: bool = False,
        flush: bool | None = None,
    ) -> AddResult:
        """Write an :meth:`export_scope` document into its scope (or the one given).

        The scope ends up holding exactly what was exported: nothing is extracted again, so the
        memories are the source store's whatever extractor or LLM this one uses; only vectors
        are embedded again, by this store's embedder. Importing the same export again changes
        nothing. With ``rederive=True`` (and for messages-only ``evermem-export/1`` documents)
        the messages are added instead and this store's pipeline derives the memories, which
        also merges them into a scope that already holds others; ``flush`` (default True there)
        then cuts the last episode.

        Raises:
            InputError: not an export, a damaged one (the message names the field), or a target
                scope that already holds other messages (delete it first, or ``rederive=True``).

        """
        if not isinstance(data, Mapping) or data.get("format") not in (
            transfer.EXPORT_FORMAT,
            transfer.MESSAGES_ONLY_FORMAT,
        ):
            raise InputError(
                f"not an evermem export: expected a dict with format {transfer.EXPORT_FORMAT!r} "
                f"(or {transfer.MESSAGES_ONLY_FORMAT!r}); write one with export_scope() or `evermem export`"
            )
        if rederive or data["format"] == transfer.MESSAGES_ONLY_FORMAT:
            return self._rederive(data, (user_id, group_id, agent_id), flush=flush is not False)
        try:
            document = transfer.ScopeExport.model_validate(data)
        except ValidationError as exc:
            reason = "; ".join(_reason(err) for err in exc.errors()[:3])
            raise InputError(f"a damaged evermem export: {reason}; re-export the scope") from None
        target = Scope.of(user_id, group_id, agent_id) if any((user_id, group_id, agent_id)) else document.scope
        with self.ingest.scope_lock(target.key), self.records.transaction():
            report = transfer.restore_scope(self.records, self._embed, document, target)
        self.ingest.apply_outbox()
        if flush:
            self.flush(**target.model_dump())
        return AddResult(added=report.added, skipped=report.skipped, buffered=report.buffered)

    def _rederive(self, data: Mapping[str, Any], ids: tuple[str | None, ...], *, flush: bool) -> AddResult:
        scope, meta, messages = data.get("scope"), data.get("meta"), data.get("messages")
        if not isinstance(scope, Mapping) or set(scope) - {"user_id", "group_id", "agent_id"}:
            raise InputError("an evermem export's 'scope' must be a dict of user_id, group_id and agent_id")
        if meta is not None and (not isinstance(meta, Mapping) or set(meta) - set(ConversationMeta.model_fields)):
            raise InputError(f"an evermem export's 'meta' must be a dict of {', '.join(ConversationMeta.model_fields)}")
        if not isinstance(messages, list):
            raise InputError("an evermem export's 'messages' must be a list of messages")
        target = Scope.of(*ids) if any(ids) else Scope.of(**{k: v for k, v in scope.items() if v is not None})
        scope_ids = {k: v for k, v in target.model_dump().items() if v is not None}
        if meta:
            self.set_conversation_meta(**scope_ids, **meta)
        result = self.add(messages, **scope_ids)
        if flush:
            self.flush(**scope_ids)
        return result

    # -- async twins ---------------------------------------------------------------------------------
    async def aadd(self, messages: MessageInput | Iterable[MessageInput], **scope: str | None) -> AddResult:
        """Async :meth:`add` (runs in a worker thread; the stores are thread-safe)."""
        return await asyncio.to_thread(self.add, messages, **scope)

    async def await_background(self, timeout: float | None = None) -> bool:
        """Async :meth:`wait`."""
        return await asyncio.to_thread(self.wait, timeout)

    async def aflush(self, **scope: str | None) -> list[MemCell]:
        """Async :meth:`flush`."""
        return await asyncio.to_thread(self.flush, **scope)

    async def asearch(self, query: str, **kwargs: Any) -> SearchResult:
        """Async :meth:`search`."""
        return await asyncio.to_thread(self.search, query, **kwargs)

    async def aget(self, **kwargs: Any) -> list[Any]:
        """Async :meth:`get`."""
        return await asyncio.to_thread(self.get, **kwargs)

    async def adelete(self, memory_id: str | None = None, **scope: str | None) -> int:
        """Async :meth:`delete`."""
        return await asyncio.to_thread(self.delete, memory_id, **scope)


def open_records(path: Path | None, database_url: str | None, database: DatabaseConfig | None = None) -> RecordStore:
    """The record store: PostgreSQL at ``database_url``, else SQLite beside the vectors (or in memory).

    Raises:
        StoreUnavailableError: PostgreSQL cannot be reached.

    """
    if database_url is not None:
        from evermem_integrations.engine.postgres import PostgresRecordStore  # psycopg only when asked for

        return PostgresRecordStore(database_url, database)
    return SQLiteRecordStore(path / SQLITE_FILE if path is not None else None)


def chroma_client_for(path: Path | None, url: str | None) -> Any:
    """Embedded Chroma beside the SQLite file, a server, or in-memory."""
    if url is not None:
        return chroma_client(url=url)
    return chroma_client(path=path / "chroma" if path is not None else None)


def _normalise(raw: Mapping[str, Any], scope: Scope, meta: ConversationMeta | None) -> dict[str, Any]:
    """Accept common message shapes: sender/name/speaker, content/text, timestamp/time."""
    if not isinstance(raw, Mapping):
        raise InvalidMessageError(f"a message must be a dict or Message, got {type(raw).__name__}")
    data = dict(raw)
    if "content" not in data and "text" in data:
        data["content"] = data.pop("text")
    for alias in ("time", "created_at", "date"):
        if "timestamp" not in data and alias in data:
            data["timestamp"] = data.pop(alias)
    data.setdefault("timestamp", datetime.now(UTC))
    if not data.get("sender"):
        data["sender"] = data.get("name") or data.get("speaker") or _role_sender(data.get("role"), scope, meta)
    data.pop("name", None)
    data.pop("speaker", None)
    if data.get("id") is None:  # optional: derived from sender, content and time
        data.pop("id", None)
    return data


def _role_sender(role: Any, scope: Scope, meta: ConversationMeta | None) -> str:
    if role == "user":
        details = meta.user_details if meta else {}
        return str(details.get("name") or scope.user_id or "user")
    if role in ("assistant", "system", "tool"):
        return str(role)
    raise InvalidMessageError("a message needs a sender (or name, or a role of user/assistant)")


def _reason(error: Mapping[str, Any]) -> str:
    location = ".".join(str(p) for p in error.get("loc", ()))
    message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{location}: {message}" if location else message


def _moment(value: datetime | str | int | float | None) -> datetime:
    return datetime.now(UTC) if value is None else parse_timestamp(value)
