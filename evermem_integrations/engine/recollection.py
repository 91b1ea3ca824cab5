"""Phase III: reconstructive recollection.

A query is answered with the necessary and sufficient memories:

1. rank units (facts, buffered messages, foresight, profile entries) lexically (BM25 on the
   FTS5 index) and by vector (Chroma), fused by reciprocal rank fusion;
2. optionally let scenes guide the selection (score each MemScene by its best MemCell, pool
   the top scenes' MemCells so neighbouring facts of a hit episode come along);
3. optionally run an agentic second round (an LLM judges sufficiency and writes 2-3 new
   queries whose rankings are fused with the first);
4. put the current profile entries of the attribute a question asks about ("Where does Ana
   live now?" asks for the residence) first, each followed by the values it superseded;
5. drop foresight that is not valid at ``current_time``, rank superseded facts below
   current ones, deduplicate, and pack the best items into ``token_budget`` tokens,
   rendered in time order with dates so the reader sees when each thing happened, and a
   superseded memory marked as history right after what replaced it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, Protocol

import numpy as np
from pydantic import BaseModel, Field

from evermem_integrations.engine import filters as filtering
from evermem_integrations.engine.consolidation import profile_line
from evermem_integrations.engine.embeddings import Embedder
from evermem_integrations.engine.models import MemoryKind, ProfileItem, SearchItem, SearchMethod, SearchResult
from evermem_integrations.engine.profile_rules import asked_attributes
from evermem_integrations.engine.protocols import RecordStore
from evermem_integrations.engine.records import Unit, UnitKeys
from evermem_integrations.engine.text import words
from evermem_integrations.engine.timeparse import TimeExpression, find_time_expressions, format_day, parse_timestamp
from evermem_integrations.engine.tokens import count_tokens
from evermem_integrations.engine.vectors import VectorIndex
from evermem_integrations.errors import LLMUnavailableError

DEFAULT_KINDS: tuple[MemoryKind, ...] = ("fact", "message", "raw", "foresight", "profile")
MIN_LINE_TOKENS = 6
"""No rendered line ("- " + a few words + newline) costs fewer tokens."""

FIRST_PERSON = frozenset({"i", "i'm", "i've", "i'd", "i'll", "me", "my", "mine", "myself"})
SAYING = frozenset(
    {"say", "tell", "recommend", "suggest", "mention", "provide", "write", "give", "share", "list", "explain"}
)
SAID = frozenset(
    {
        "said",
        "told",
        "recommended",
        "suggested",
        "mentioned",
        "provided",
        "wrote",
        "gave",
        "shared",
        "listed",
        "explained",
    }
)
"""Verbs of saying, as asked ("did you recommend") and as said ("you recommended")."""


def asks_about_the_user(query_words: Sequence[str]) -> bool:
    """Whether a question asks about its asker ("What book am I reading?") and not about the assistant's words.

    A question is put by the application's user, so "I" and "my" are the user. "You" in a
    request ("Do you have any tips?", "Can you suggest ...") leaves it about the user; a
    question about what the assistant said ("the sealant you recommended", "what did you
    suggest", "remind me ...", "our previous conversation") is about the assistant's words.
    """
    said = [w.lower() for w in query_words]
    if not FIRST_PERSON.intersection(said):
        return False
    recalls_the_assistant = (
        "remind" in said
        or ("our" in said and ("conversation" in said or "chat" in said))
        or any(you == "you" and verb in SAID for you, verb in itertools.pairwise(said))
        or any(
            did == "did" and you == "you" and verb in SAYING
            for did, you, verb in zip(said, said[1:], said[2:], strict=False)
        )
    )
    return not recalls_the_assistant


WHOLE_ANSWER_HITS = 3
"""Hits, best first, whose short answers come whole: a whole answer costs several lines of the budget."""
WHOLE_ANSWER_SHARE = 0.999
"""The score share of the other facts of such a hit's message: right after the hit."""


class RecollectionConfig(BaseModel):
    """Retrieval settings."""

    candidates: int = Field(default=80, ge=1, description="units taken from each ranker before fusion")
    rrf_k: int = Field(default=30, ge=1, description="reciprocal rank fusion constant")
    superseded_penalty: float = Field(default=0.5, ge=0, le=1, description="score factor for superseded facts")
    top_scenes: int = Field(default=3, ge=1, description="scenes pooled by scene-guided selection")
    pooled_weight: float = Field(
        default=0.5, ge=0, le=1, description="pooled (not directly hit) units score at this share of their cell"
    )
    sibling_weight: float = Field(
        default=0.3, ge=0, le=1, description="score share of a hit fact given to the other facts of its message"
    )
    episode_weight: float = Field(
        default=1.0, ge=0, description="weight of the episode-level match added to a unit's score"
    )
    top_episodes: int = Field(default=3, ge=1, description="episodes ranked for the episode prior")
    episode_pool: bool = Field(default=True, description="also pool unranked facts of the top episodes")
    subject_boost: float = Field(
        default=0.6,
        ge=0,
        description="score bonus for units about a person the query names, or, for a question about its asker "
        "('what am I reading?'), for what was not said by the assistant (0 turns both off)",
    )
    profile_first: bool = Field(
        default=True,
        description="put the current profile entries of the attribute a question asks about before everything else",
    )
    asked_period: bool = Field(
        default=True,
        description="also rank the memories of the period a question names ('last month', 'two weeks ago'), "
        "read against the search's current_time",
    )
    default_token_budget: int = Field(default=2000, ge=50)


class Sufficiency(BaseModel):
    """An LLM's verdict on whether a context answers a query."""

    sufficient: bool
    missing: str = ""


class QueryPlanner(Protocol):
    """What agentic retrieval asks of an LLM."""

    def check(self, query: str, context: str) -> Sufficiency:
        """Judge whether ``context`` holds what ``query`` needs."""
        ...

    def rewrite(self, query: str, context: str, missing: str) -> list[str]:
        """Two or three new queries that would find what is missing."""
        ...


def drawn_only_from(unit: Unit, excluded: frozenset[str]) -> bool:
    """Whether every message a unit was drawn from is in ``excluded``."""
    sources = unit.data.get("source_message_ids") or unit.data.get("evidence") or []
    return bool(sources) and excluded.issuperset(sources)


@dataclass(frozen=True)
class Selection:
    """Which memories a search may return: those passing the filter, not drawn only from excluded messages."""

    filter: filtering.Filter
    excluded: frozenset[str]

    def admits(self, unit: Unit) -> bool:
        """Whether ``unit`` may be returned."""
        if self.excluded and drawn_only_from(unit, self.excluded):
            return False
        return filtering.is_empty(self.filter) or filtering.matches(self.filter, unit.filter_target)


def ranking(scored: Sequence[tuple[str, float]]) -> list[str]:
    """Ids best first, equal scores by id.

    Not by the order an index returned them in (a one-sentence message and its fact score the
    same), so that a copy of the store, or another backend, answers the same.
    """
    return [unit_id for unit_id, _ in sorted(scored, key=lambda pair: (-pair[1], pair[0]))]


PERIOD_SLACK: dict[str, timedelta] = {
    "day": timedelta(days=1),
    "weekend": timedelta(days=1),
    "week": timedelta(days=3),
    "month": timedelta(days=7),
    "season": timedelta(days=14),
    "year": timedelta(days=30),
    "range": timedelta(days=2),
}
"""How far around a named period its memories are looked for: people round ("two weeks ago"
said of 17 days ago), and a memory is dated when it was said, which can trail the event."""


def asked_period(query: str, moment: datetime) -> filtering.Filter | None:
    """A timestamp filter for the past period a question names, read at ``moment``; ``None`` if it names none.

    Only periods before ``moment``: a question about the past names when it happened
    ("last month", "two weeks ago", "in May"); a future one ("next week") is about plans,
    which are dated when they were made.
    """
    spans = [
        (e.moment - PERIOD_SLACK[e.precision], e.until + PERIOD_SLACK[e.precision])
        for e in _past_periods(query, moment)
    ]
    if not spans:
        return None
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    return filtering.AllOf(
        (
            filtering.Condition("timestamp", True, "$gte", start),
            filtering.Condition("timestamp", True, "$lte", end),
        )
    )


def without_past_periods(text: str, moment: datetime) -> str:
    """``text`` without the expressions that name a past period (those :func:`asked_period` reads).

    Once the period narrows a search they tell nothing apart, yet memories say "two weeks ago"
    too (and carry its date written out): BM25 would rank those above the one asked about.
    """
    kept, last = [], 0
    for expression in _past_periods(text, moment):
        kept.append(text[last : expression.start])
        last = expression.end
    kept.append(text[last:])
    return " ".join("".join(kept).split())


def _past_periods(text: str, moment: datetime) -> list[TimeExpression]:
    return [
        e
        for e in find_time_expressions(text, moment)
        if e.precision in PERIOD_SLACK and not e.future and e.moment <= moment
    ]


def rrf(rankings: Sequence[Sequence[str]], k: int) -> dict[str, float]:
    """Reciprocal rank fusion: ``sum(1 / (k + rank))`` over the rankings an id appears in."""
    scores: dict[str, float] = defaultdict(float)
    for ranking in rankings:
        for rank, unit_id in enumerate(ranking, start=1):
            scores[unit_id] += 1.0 / (k + rank)
    return dict(scores)


class ScopeReader:
    """One search's view of a scope: each unit is read at most once.

    Ranking asks only for a unit's keys (cell, subject); full records are parsed only for the
    candidates that may reach the context.
    """

    def __init__(self, records: RecordStore, scope: str, vectors: VectorIndex | None = None) -> None:
        self.records = records
        self.scope = scope
        self._units: dict[str, Unit] = {}
        self._keys: dict[str, UnitKeys] = {}
        self._subjects: list[str] | None = None
        self._vectors = vectors
        self._held: Mapping[str, UnitKeys] | None = None

    def subjects(self) -> list[str]:
        """The people of the scope (read once: the query's names and its asker both need them)."""
        if self._subjects is None:
            self._subjects = self.records.subjects(self.scope)
        return self._subjects

    def units(self, ids: Sequence[str]) -> dict[str, Unit]:
        """Units by id (ids not in the scope are left out)."""
        missing = [i for i in ids if i not in self._units]
        if missing:
            self._units.update(self.records.units(self.scope, missing))
        return {i: self._units[i] for i in ids if i in self._units}

    def keys(self, ids: Sequence[str]) -> dict[str, UnitKeys]:
        """The cell, subject and role of units by id."""
        if self._held is None:
            # A scope searched exactly holds its keys with its vectors: no read for most units.
            self._held = (self._vectors.held_keys(self.scope) if self._vectors else None) or {}
        missing = [i for i in ids if i not in self._keys and i not in self._units and i not in self._held]
        if missing:
            self._keys.update(self.records.unit_keys(self.scope, missing))
        found: dict[str, UnitKeys] = {}
        for unit_id in ids:
            if unit_id in self._units:
                unit = self._units[unit_id]
                found[unit_id] = UnitKeys(unit.cell_id, unit.data.get("subject"), unit.data.get("role"))
            elif unit_id in self._keys:
                found[unit_id] = self._keys[unit_id]
            elif unit_id in self._held:
                found[unit_id] = self._held[unit_id]
        return found


class Recollector:
    """Ranks, selects and packs memories for a query within one scope."""

    def __init__(
        self,
        records: RecordStore,
        vectors: VectorIndex,
        embedder: Embedder,
        config: RecollectionConfig | None = None,
        planner: QueryPlanner | None = None,
        *,
        concurrent_lookups: bool = False,
    ) -> None:
        """``concurrent_lookups``: overlap a search's lookups in threads, for stores served by other processes.

        Each lookup of a store in this process (SQLite, embedded Chroma) holds the GIL for most
        of its time and gives it up for short calls; in threads they queue for it again and
        again (small scopes searched at a p50 of 5.1 ms in threads against 2.8 one after the
        other). A lookup of a server mostly waits on its answer, which threads overlap.
        """
        self.records = records
        self.vectors = vectors
        self.embedder = embedder
        self.config = config or RecollectionConfig()
        self.planner = planner
        self._pool = (
            ThreadPoolExecutor(max_workers=4, thread_name_prefix="evermem-search") if concurrent_lookups else None
        )
        # A search looks its query up two or three times (whole, in its period, among its asker's
        # words); an embedder behind an API is paid once for it.
        self._query_vector = lru_cache(maxsize=256)(self._embed_query)

    def _embed_query(self, query: str) -> np.ndarray:
        return self.embedder.embed([query])[0]

    def close(self) -> None:
        """Stop the lookup threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def search(
        self,
        query: str,
        scope: str,
        *,
        method: SearchMethod = "hybrid",
        token_budget: int | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        filters: Mapping[str, Any] | filtering.Filter | None = None,
        current_time: datetime | None = None,
        limit: int | None = None,
        exclude_message_ids: Collection[str] | None = None,
    ) -> SearchResult:
        """Rank and pack memories of ``scope`` for ``query``.

        ``filters`` (see :mod:`~evermem_integrations.engine.filters`) narrow the rankers
        themselves (BM25 in SQL, Chroma's ``where``), so their candidates pass, and every
        memory is checked again before packing. ``exclude_message_ids`` leaves out memories
        drawn only from those messages (a chat window the prompt already shows verbatim) and
        fills the budget with others instead.
        """
        budget = token_budget or self.config.default_token_budget
        kinds = tuple(kinds or DEFAULT_KINDS)
        flt = (
            filters
            if isinstance(filters, filtering.Condition | filtering.AllOf | filtering.AnyOf)
            else filtering.parse(filters)
        )
        selection = Selection(flt, frozenset(exclude_message_ids or ()))
        queries = [query]
        reader = ScopeReader(self.records, scope, self.vectors)
        moment = current_time or datetime.now(UTC)
        scores = self._rank(query, reader, method, kinds, flt, moment)
        result = self._assemble(query, reader, method, scores, budget, selection, moment, limit, queries, rounds=1)
        if method != "agentic":
            return result
        if self.planner is None:
            raise LLMUnavailableError("method='agentic' needs an LLM: create EverMem(llm=...) or use method='hybrid'")
        verdict = self.planner.check(query, result.context)
        if verdict.sufficient:
            return result
        rewrites = [q for q in self.planner.rewrite(query, result.context, verdict.missing) if q.strip()][:3]
        queries.extend(rewrites)
        rankings = [sorted(scores, key=scores.__getitem__, reverse=True)]
        for rewrite in rewrites:
            extra = self._rank(rewrite, reader, "hybrid", kinds, flt, moment)
            rankings.append(sorted(extra, key=extra.__getitem__, reverse=True))
        fused = rrf(rankings, self.config.rrf_k)
        return self._assemble(query, reader, method, fused, budget, selection, moment, limit, queries, rounds=2)

    # -- ranking -----------------------------------------------------------------------------
    def _rank(
        self,
        query: str,
        reader: ScopeReader,
        method: SearchMethod,
        kinds: Sequence[str],
        flt: filtering.Filter,
        moment: datetime,
    ) -> dict[str, float]:
        if method in ("keyword", "vector"):
            rankings = self._lookups(query, query, reader.scope, method, kinds, flt)
            return rrf([rankings.get("lexical", []), rankings.get("dense", [])], self.config.rrf_k)
        query_words = words(query)
        named, naming_words = self._named(query_words, reader) if self.config.subject_boost > 0 else (set(), set())
        # A name that every fact of its person repeats tells BM25 little and matches a large part
        # of the scope (all of the cost); the subject prior weighs it instead.
        kept = [w for w in query_words if w.split("'")[0] not in naming_words]
        lexical_query = " ".join(kept) if kept and naming_words else query
        rankings = self._lookups(query, lexical_query, reader.scope, method, kinds, flt)
        ranked = [rankings.get("lexical", []), rankings.get("dense", [])]
        period = asked_period(query, moment) if self.config.asked_period else None
        # The lookup over the whole scope keeps the whole question (a memory may name its time in
        # words); the lookups that rank a part of it again read the rest: there a period's words
        # only favour memories that say "two weeks ago" too, of any two weeks.
        rest = lexical_query if period is None else without_past_periods(lexical_query, moment)
        if period is not None:
            # The same lookups narrowed to the period: its memories rank twice, so "what did I
            # do last month" finds last month's among years of others.
            within = self._lookups(
                query, rest, reader.scope, method, kinds, filtering.AllOf((flt, period)), episodes=False
            )
            ranked += [within.get("lexical", []), within.get("dense", [])]
        asker = self.config.subject_boost > 0 and not named and asks_about_the_user(query_words)
        if asker:
            ranked += self._asker_lookups(query, rest, reader, method, kinds, flt, ranked)
        fused = rrf(ranked, self.config.rrf_k)
        if self.config.episode_weight > 0:
            episode_rankings = [rankings.get("episodes_lexical", []), rankings.get("episodes_dense", [])]
            fused = self._episode_prior(rrf(episode_rankings, self.config.rrf_k), reader, fused, kinds)
        if named:
            fused = self._subject_prior(lambda keys: keys.subject in named, reader, fused)
        elif asker:
            # In a chat with an assistant most of what is stored is the assistant's long answers;
            # the user's own statements answer a question about the user.
            fused = self._subject_prior(lambda keys: keys.role != "assistant", reader, fused)
        if self.config.profile_first and "profile" in kinds:
            fused = self._asked_profile_first(query, named, reader.scope, fused)
        if method == "scene":
            fused = self._scene_guided(reader, fused, kinds)
        return fused

    def _lookups(
        self,
        query: str,
        lexical_query: str,
        scope: str,
        method: SearchMethod,
        kinds: Sequence[str],
        flt: filtering.Filter,
        *,
        episodes: bool = True,
    ) -> dict[str, list[str]]:
        """The index rankings a method needs (overlapped in threads with ``concurrent_lookups``).

        The lexical and the vector lookups are of the items, and of the episodes for the
        episode prior. The items' lookups are narrowed by the filter; the episodes' are a prior
        only (their facts are filtered one by one), so they stay whole.
        """
        where = None if filtering.is_empty(flt) else flt
        n, top_episodes = self.config.candidates, self.config.top_episodes
        with_episodes = episodes and method not in ("keyword", "vector") and self.config.episode_weight > 0
        lookups: dict[str, Callable[[], Sequence[tuple[str, float]]]] = {}
        if method != "vector":
            terms = self.records.lexical_terms(lexical_query, scope)
            lookups["lexical"] = partial(self.records.bm25, scope, terms, kinds, n, where)
            if with_episodes:
                lookups["episodes_lexical"] = partial(self.records.bm25, scope, terms, ["episode"], top_episodes)
        if method != "keyword":
            vector = self._query_vector(query)
            if np.any(vector):  # a query of unknown words embeds to zero: it has no neighbours
                lookups["dense"] = partial(self.vectors.query, vector, scope, kinds, n, where)
                if with_episodes:
                    lookups["episodes_dense"] = partial(self.vectors.query, vector, scope, ["episode"], top_episodes)
        if self._pool is None:
            return {name: ranking(lookup()) for name, lookup in lookups.items()}
        jobs = {name: self._pool.submit(lookup) for name, lookup in lookups.items()}
        return {name: ranking(job.result()) for name, job in jobs.items()}

    def _asker_lookups(
        self,
        query: str,
        lexical_query: str,
        reader: ScopeReader,
        method: SearchMethod,
        kinds: Sequence[str],
        flt: filtering.Filter,
        ranked: Sequence[Sequence[str]],
    ) -> list[list[str]]:
        """For a question about its asker, the same lookups among what was not said by an assistant.

        An assistant's long answers are most of a chat's units and share its topic's words, so
        the user's one sentence that answers ("I'm currently devouring ...") can rank below every
        candidate; ranked among the others' words it comes first. The assistants are the speakers
        of the candidates said in the assistant role (none among them: nothing to set apart); the
        others are named with ``$in``, which Chroma judges in the vector search itself.
        """
        candidates = reader.keys(list(dict.fromkeys(unit_id for ids in ranked for unit_id in ids)))
        assistants = {k.subject for k in candidates.values() if k.role == "assistant" and k.subject}
        speakers = tuple(sorted(set(reader.subjects()) - assistants))
        if not assistants or not speakers:
            return []
        others = filtering.AllOf((flt, filtering.Condition("subject", True, "$in", speakers)))
        found = self._lookups(query, lexical_query, reader.scope, method, kinds, others, episodes=False)
        return [found.get("lexical", []), found.get("dense", [])]

    def _episode_prior(
        self,
        episode_scores: Mapping[str, float],
        reader: ScopeReader,
        scores: dict[str, float],
        kinds: Sequence[str],
    ) -> dict[str, float]:
        """Boost units of the MemCells whose whole episode matches the query.

        A multi-part question is often answered by several facts of one episode, none of which
        matches well alone; ranking episodes too lets those facts rise together.
        """
        cell_prior = {unit_id.removesuffix(":episode"): score for unit_id, score in episode_scores.items()}
        boosted = dict(scores)
        for unit_id, keys in reader.keys(list(scores)).items():
            if keys.cell_id in cell_prior:
                boosted[unit_id] += self.config.episode_weight * cell_prior[keys.cell_id]
        if self.config.episode_pool:
            for unit_id, cell_id in self.records.unit_ids_of_cells(
                reader.scope, list(cell_prior), [k for k in kinds if k == "fact"]
            ):
                if unit_id not in boosted:
                    boosted[unit_id] = self.config.episode_weight * cell_prior[cell_id] * self.config.pooled_weight
        return boosted

    def _named(self, query_words: Sequence[str], reader: ScopeReader) -> tuple[set[str], set[str]]:
        """The people of the scope a query's words name ("Mel" names Melanie), and the words naming them."""
        candidates = {stem for w in query_words if len(stem := w.split("'")[0]) >= 3}
        named: set[str] = set()
        naming: set[str] = set()
        if not candidates:
            return named, naming
        prefixes = tuple(candidates)
        for person in reader.subjects():  # a large scope holds hundreds of people: one test each first
            parts = person.lower().split()
            if not any(part.startswith(prefixes) for part in parts):
                continue
            named.add(person)
            naming |= {w for w in candidates if any(part.startswith(w) for part in parts)}
        return named, naming

    def _subject_prior(
        self, favoured: Callable[[UnitKeys], bool], reader: ScopeReader, scores: dict[str, float]
    ) -> dict[str, float]:
        """Favour the units of the people a question is about (those it names, or its asker)."""
        factor = 1.0 + self.config.subject_boost
        keys = reader.keys(list(scores))
        return {i: s * factor if i in keys and favoured(keys[i]) else s for i, s in scores.items()}

    def _asked_profile_first(
        self, query: str, named: set[str], scope: str, scores: dict[str, float]
    ) -> dict[str, float]:
        """Rank the current profile entries of the attributes a question asks about above everything.

        A profile entry is the current value of an attribute; the episodes that said older values
        match the question as well as the one that said the new value, so ranking alone puts
        them anywhere. Entries of the people the question names (of anyone when it names no one).
        """
        entries = [
            item for item in self.records.profile_items(scope, current_only=True) if not named or item.subject in named
        ]
        asked = asked_attributes(query, {item.attribute for item in entries})
        if not asked:
            return scores
        top = max(scores.values(), default=0.0)
        pinned = dict(scores)
        for item in entries:
            if item.attribute in asked:
                pinned[item.id] = top + scores.get(item.id, 0.0)  # among themselves, by how well they match
        return pinned

    def _scene_guided(self, reader: ScopeReader, scores: dict[str, float], kinds: Sequence[str]) -> dict[str, float]:
        """Score scenes by their best MemCell, then pool the top scenes' MemCells."""
        units = reader.units(list(scores))
        cell_scores: dict[str, float] = defaultdict(float)
        scene_scores: dict[str, float] = defaultdict(float)
        for unit_id, unit in units.items():
            if unit.cell_id is None:
                continue
            cell_scores[unit.cell_id] = max(cell_scores[unit.cell_id], scores[unit_id])
            scene = unit.data.get("scene_id")
            if scene:
                scene_scores[scene] = max(scene_scores[scene], scores[unit_id])
        top_scenes = sorted(scene_scores, key=scene_scores.__getitem__, reverse=True)[: self.config.top_scenes]
        top_cells = sorted(cell_scores, key=cell_scores.__getitem__, reverse=True)[: self.config.top_scenes * 2]
        pooled = dict(scores)
        members = self.records.unit_ids_of_cells(
            reader.scope, top_cells, [k for k in kinds if k not in ("raw", "message")]
        )
        member_units = reader.units([unit_id for unit_id, _ in members])
        for unit_id, cell_id in members:
            member = member_units.get(unit_id)
            if member is not None and unit_id not in pooled and member.data.get("scene_id") in top_scenes:
                pooled[unit_id] = cell_scores[cell_id] * self.config.pooled_weight
        return pooled

    # -- selection and packing ------------------------------------------------------------------
    def _assemble(
        self,
        query: str,
        reader: ScopeReader,
        method: SearchMethod,
        scores: Mapping[str, float],
        budget: int,
        selection: Selection,
        moment: datetime,
        limit: int | None,
        queries: list[str],
        rounds: int,
    ) -> SearchResult:
        items = self._candidates(reader, scores, budget, selection, moment, limit)
        items = self._with_message_siblings(reader, items, moment, budget // 25)
        selected, context, tokens = pack(items, budget)
        if limit is not None:
            selected = selected[:limit]
        return SearchResult(
            query=query,
            method=method,
            items=selected,
            context=context,
            context_tokens=tokens,
            rounds=rounds,
            queries=queries,
        )

    def _candidates(
        self,
        reader: ScopeReader,
        scores: Mapping[str, float],
        budget: int,
        selection: Selection,
        moment: datetime,
        limit: int | None,
    ) -> list[SearchItem]:
        """The best-scored units that pass the filters and validity, as items, best first."""
        # Ranks beyond budget / MIN_LINE_TOKENS could never be packed.
        ranked = sorted(scores, key=scores.__getitem__, reverse=True)[: budget // MIN_LINE_TOKENS + (limit or 0)]
        items: dict[str, SearchItem] = {}
        seen_text: dict[str, str] = {}
        successors: dict[str, float] = {}

        def take(unit: Unit, score: float) -> int:
            item = self._item(unit, score, moment) if selection.admits(unit) else None
            if item is None:
                return 0
            key = _dedupe_key(item.text)
            if key in seen_text:  # said the same way (a one-sentence message and its fact): one line, the best rank
                shown = items[seen_text[key]]
                shown.score = max(shown.score, item.score)
                return 0
            seen_text[key] = item.id
            items[item.id] = item
            if "superseded_by" in item.metadata:
                successor = item.metadata["superseded_by"]
                successors[successor] = max(score, successors.get(successor, 0.0))
            return len(item.text)

        # Candidates of 1.25 times the budget (at ~4 characters a token) leave the packer enough
        # choice (message siblings add more); reading further down the ranking only costs time,
        # so it is read in pages.
        room = 5 * budget
        for start in range(0, len(ranked), 64):
            page = ranked[start : start + 64]
            units = reader.units(page)
            room -= sum(take(units[unit_id], scores[unit_id]) for unit_id in page if unit_id in units)
            if room < 0 and len(items) >= (limit or 0):
                break
        # What replaced a fact ranks at least where the fact would have: the old value is only
        # history, the reader needs the current one next to it.
        for unit_id, unit in reader.units(list(successors)).items():
            if unit_id in items:
                items[unit_id].score = max(items[unit_id].score, successors[unit_id])
            else:
                take(unit, successors[unit_id])
        for old in self._profile_history(reader.scope, [i for i in items.values() if i.kind == "profile"]):
            items.setdefault(old.id, old)
        return sorted(items.values(), key=lambda i: i.score, reverse=True)

    def _profile_history(self, scope: str, entries: Sequence[SearchItem]) -> list[SearchItem]:
        """The values current profile entries superseded, as items ranked just below them.

        A superseded entry is no longer indexed (a search must not find it as current); it is
        shown only next to what replaced it, marked as history.
        """
        current = {(i.subject, i.metadata["attribute"]): i for i in entries if "attribute" in i.metadata}
        found: list[SearchItem] = []
        for subject in {subject for subject, _ in current}:
            for old in self.records.profile_items(scope, subject):
                successor = current.get((subject, old.attribute))
                if old.status != "superseded" or successor is None:
                    continue
                found.append(_history_item(old, successor, successor.score * self.config.superseded_penalty))
        return found

    def _with_message_siblings(
        self, reader: ScopeReader, items: list[SearchItem], moment: datetime, top: int
    ) -> list[SearchItem]:
        """Rank the other facts said in the same message as a hit fact at a share of its score.

        A fact is one sentence; read alone it often loses what the rest of the message said
        about it ("It was so powerful."), so the reader gets the message's statements together.
        Only a message's best fact keeps its own rank, the others come at the share even when
        they rank well alone: one long answer of many matching sentences would otherwise fill
        the budget, leaving out the other messages a question needs (measured: evidence recall
        on LongMemEval 95.7 with the share, 93.5 with each fact at its own rank, at 2,000 tokens).

        For one of the :data:`WHOLE_ANSWER_HITS` best hits, a message the index holds only as
        facts (an assistant's short answer: an address, a few steps) comes whole instead, its
        other facts right after the hit: "67346 Speyer" alone does not say the phone number two
        lines below it (LongMemEval evidence recall at 500 tokens 81.0 -> 82.6, at 1,000 89.9 ->
        91.5; LoCoMo and the bundled assistant chat unchanged). For every hit, the weak ones
        brought whole answers that crowded the budget (assistant chat at 1,000 tokens 94.8 -> 92.6).
        """
        # Only the best hits can bring their siblings into the budget (~25 tokens a line).
        messages = list(
            {i.source_message_ids[0] for i in items[:top] if i.kind == "fact" and len(i.source_message_ids) == 1}
        )
        siblings = self.records.unit_ids_of_messages(reader.scope, messages, ["fact"])
        said = {message_id for _, message_id in self.records.unit_ids_of_messages(reader.scope, messages, ["message"])}
        sibling_units = reader.units([unit_id for unit_id, _ in siblings])
        by_message: dict[str, list[Unit]] = defaultdict(list)
        for unit_id, message_id in siblings:
            if unit_id in sibling_units:
                by_message[message_id].append(sibling_units[unit_id])
        ordered: list[SearchItem] = []
        placed: set[str] = set()
        leading = {i.id for i in items[:WHOLE_ANSWER_HITS]}
        for item in items:
            if item.id in placed:
                continue
            ordered.append(item)
            placed.add(item.id)
            if item.kind != "fact" or len(item.source_message_ids) != 1:
                continue
            message = item.source_message_ids[0]
            # Whole: just below the hit, above whatever ranked below it.
            share = WHOLE_ANSWER_SHARE if message not in said and item.id in leading else self.config.sibling_weight
            for sibling in by_message.get(message, []):
                if sibling.id in placed:
                    continue
                extra = self._item(sibling, item.score * share, moment)
                if extra is not None:
                    ordered.append(extra)
                    placed.add(sibling.id)
        return sorted(ordered, key=lambda i: i.score, reverse=True)

    def _item(self, unit: Unit, score: float, moment: datetime) -> SearchItem | None:
        data = unit.data
        metadata: dict[str, Any] = {}
        if unit.kind == "foresight":
            end = data.get("end")
            if end is not None and parse_timestamp(end) < moment:
                return None
            if parse_timestamp(data["start"]) > moment:
                return None
            metadata["valid_until"] = end
        if unit.kind == "profile":
            if data.get("status") == "superseded":
                return None
            until = data.get("valid_until")
            if until is not None and parse_timestamp(until) < moment:
                return None
            metadata["attribute"] = data["attribute"]
        if data.get("pieces", 1) > 1:
            metadata["piece"] = f"{data['piece']} of {data['pieces']}"
            metadata["pieces"] = data["pieces"]
        if unit.kind in ("fact", "message") and data.get("superseded_by"):
            score *= self.config.superseded_penalty
            metadata["superseded_by"] = data["superseded_by"]
            metadata["valid_until"] = data.get("valid_until")
        return SearchItem(
            id=unit.id,
            kind=unit.kind,  # type: ignore[arg-type]
            text=unit.text,
            score=score,
            timestamp=unit.timestamp,
            source_message_ids=list(data.get("source_message_ids") or data.get("evidence") or []),
            cell_id=unit.cell_id,
            scene_id=data.get("scene_id"),
            subject=data.get("subject") or data.get("sender"),
            metadata=metadata,
            source_metadata=unit.metadata,
        )


def _history_item(old: ProfileItem, successor: SearchItem, score: float) -> SearchItem:
    """A superseded profile entry, shown after the entry that replaced it."""
    return SearchItem(
        id=old.id,
        kind="profile",
        text=profile_line(old),
        score=score,
        timestamp=old.valid_from,
        source_message_ids=list(old.evidence),
        subject=old.subject,
        metadata={
            "attribute": old.attribute,
            "superseded_by": successor.id,
            "valid_until": old.valid_until.isoformat() if old.valid_until else None,
        },
    )


@lru_cache(maxsize=65_536)
def _dedupe_key(text: str) -> str:
    """Texts that differ only in case and punctuation say the same thing (cached: memories recur)."""
    return " ".join(words(text))


_SECTION_FOR_KIND = {"profile": "Profile", "raw": "Recent messages"}


def _line(item: SearchItem) -> str:
    suffix = ""
    if item.metadata.get("superseded_by"):
        until = item.metadata.get("valid_until")
        suffix = f" (no longer true since {format_day(parse_timestamp(until))})" if until else " (no longer true)"
    elif item.kind == "foresight" and item.metadata.get("valid_until"):
        suffix = f" (plan, until {format_day(parse_timestamp(item.metadata['valid_until']))})"
    return f"- {item.text}{suffix}\n"


def _section(item: SearchItem) -> tuple[int, str]:
    """(sort key, header) of the group an item is rendered under."""
    if item.kind in _SECTION_FOR_KIND:
        return (0 if item.kind == "profile" else 2, f"{_SECTION_FOR_KIND[item.kind]}:\n")
    day = item.timestamp or datetime.min.replace(tzinfo=UTC)
    return (1, f"[{format_day(day)}]\n")


def pack(items: Sequence[SearchItem], budget: int) -> tuple[list[SearchItem], str, int]:
    """Greedily fit the items, best first, into ``budget`` tokens; render them for reading.

    Items are taken in the given (ranked) order; one that does not fit is skipped (a shorter one may). The
    rendered context groups them by day in time order, profile first, buffered messages last.
    """
    chosen: list[SearchItem | None] = []
    line_cost: dict[str, int] = {}
    headers: set[str] = set()
    facts_at: dict[str, list[int]] = defaultdict(list)  # message id -> places of the chosen facts said in it
    whole: set[str] = set()  # messages shown whole, as said: the facts said in them add nothing
    used = 0
    for item in items:
        if budget - used < MIN_LINE_TOKENS:
            break
        said_in = _said_in(item)
        if item.kind == "fact" and said_in in whole:
            continue
        shown_whole = said_in if _is_whole(item) else None
        covered = facts_at.pop(shown_whole, []) if shown_whole is not None else []
        _, header = _section(item)
        cost = count_tokens(_line(item))
        header_cost = 0 if header in headers else count_tokens(header) + 1
        refund = sum(line_cost[fact.id] for n in covered if (fact := chosen[n]) is not None)
        if used + cost + header_cost - refund > budget:
            if shown_whole is not None and covered:
                facts_at[shown_whole] = covered  # not taken: its facts stay
            continue
        if covered:
            # The message takes the place (and the rank) of the best fact said in it.
            best = max(fact.score for n in covered if (fact := chosen[n]) is not None)
            item = item.model_copy(update={"score": max(item.score, best)})
            first, *rest = covered
            chosen[first] = item
            for n in rest:
                chosen[n] = None
        else:
            if item.kind == "fact" and said_in is not None:
                facts_at[said_in].append(len(chosen))
            chosen.append(item)
        if shown_whole is not None:
            whole.add(shown_whole)
        line_cost[item.id] = cost
        headers.add(header)
        used += cost + header_cost - refund
    picked = [c for c in chosen if c is not None]
    context = render(picked)
    return picked, context, count_tokens(context)


def _said_in(item: SearchItem) -> str | None:
    """The one message an item was drawn from, if it was drawn from exactly one."""
    return item.source_message_ids[0] if len(item.source_message_ids) == 1 else None


def _is_whole(item: SearchItem) -> bool:
    """Whether an item is a whole message as said (not a piece of a long one)."""
    return item.kind in ("message", "raw") and "pieces" not in item.metadata and _said_in(item) is not None


def render(items: Sequence[SearchItem]) -> str:
    """Items grouped by section, sections and lines in time order."""
    groups: dict[tuple[int, str], list[SearchItem]] = defaultdict(list)
    for item in items:
        groups[_section(item)].append(item)

    def group_order(key: tuple[int, str]) -> tuple[int, datetime]:
        first = min((i.timestamp for i in groups[key] if i.timestamp), default=datetime.min.replace(tzinfo=UTC))
        return key[0], first

    blocks = []
    for key in sorted(groups, key=group_order):
        lines = _history_after_successor(
            sorted(groups[key], key=lambda i: i.timestamp or datetime.min.replace(tzinfo=UTC))
        )
        blocks.append(key[1] + "".join(_line(i) for i in lines))
    return "\n".join(blocks).strip()


def _history_after_successor(lines: Sequence[SearchItem]) -> list[SearchItem]:
    """Lines in order, except that a superseded memory follows what replaced it when both are shown."""
    shown = {i.id for i in lines}
    history: dict[str, list[SearchItem]] = defaultdict(list)
    for item in lines:
        successor = item.metadata.get("superseded_by")
        if successor in shown and successor != item.id:
            history[successor].append(item)
    placed = {i.id for entries in history.values() for i in entries}
    ordered: list[SearchItem] = []

    def place(item: SearchItem) -> None:
        ordered.append(item)
        for old in history.get(item.id, []):
            place(old)

    for item in lines:
        if item.id not in placed:
            place(item)
    return ordered
