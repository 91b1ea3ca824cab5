"""The scale benchmark: how search latency, ingestion rate, memory and disk grow with the store.

Two series, each in one scope of its own store, so every search runs over the whole store
(the worst case):

* search latency against stored facts (default 10k, 100k, 1M): synthetic MemCells with
  facts are bulk-loaded through the engine's own write path (:meth:`EverMem.add_memcells`,
  the same code that stores flushed episodes: units and BM25 entries, vectors, scenes,
  supersession) in large batches, so the 1M point needs no million messages through
  segmentation and extraction;
* ingestion through the full pipeline (``EverMem.add`` then ``EverMem.flush`` per
  synthetic conversation) up to 100k messages, with the rate of each segment.

Sizes are cumulative: a store grows to the first size, is measured, then grows on. Each
point records hybrid search p50/p95 over queries about the stored people, the process's
resident memory, the store's size on disk and how long the point took.
"""

from __future__ import annotations

import os
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from evermem_integrations.bench.floor import FloorIndex
from evermem_integrations.bench.metrics import percentile
from evermem_integrations.engine.embeddings import Embedder, StaticEmbedder
from evermem_integrations.engine.extraction import attributed, episode_title
from evermem_integrations.engine.models import Fact, MemCell, Message, Scope, SearchMethod, stable_id
from evermem_integrations.engine.recollection import DEFAULT_KINDS
from evermem_integrations.engine.records import Unit

if TYPE_CHECKING:
    from evermem_integrations import EverMem

FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Diego",
    "Elif",
    "Farah",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Viktor",
    "Wen",
    "Xavi",
    "Yara",
    "Zane",
]
LAST = [
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Haddad",
    "Kowalski",
    "Reyes",
    "Brennan",
    "Iyer",
    "Costa",
]
CITIES = [
    "Lisbon",
    "Denver",
    "Osaka",
    "Nairobi",
    "Toronto",
    "Krakow",
    "Austin",
    "Hanoi",
    "Dublin",
    "Cusco",
    "Tbilisi",
    "Perth",
]
PETS = ["beagle", "tabby cat", "parrot", "corgi", "rabbit", "gecko", "husky", "goldfish"]
PET_NAMES = ["Biscuit", "Mochi", "Pepper", "Rocket", "Luna", "Ziggy", "Olive", "Waffles", "Juniper", "Pixel"]
HOBBIES = [
    "pottery",
    "bouldering",
    "salsa dancing",
    "chess",
    "birdwatching",
    "woodworking",
    "sourdough baking",
    "marathon training",
    "watercolor painting",
    "beekeeping",
    "kayaking",
    "astronomy",
]
JOBS = [
    "nurse",
    "architect",
    "data analyst",
    "chef",
    "teacher",
    "firefighter",
    "translator",
    "electrician",
    "pharmacist",
]
BOOKS = ["Dune", "Beloved", "The Hobbit", "Middlemarch", "Kindred", "Circe", "Piranesi", "Stoner", "Hamnet"]
FOODS = ["ramen", "tacos al pastor", "pierogi", "jollof rice", "pho", "paella", "khachapuri", "bibimbap"]
RELATIONS = ["sister", "brother", "cousin", "neighbor", "colleague", "aunt", "roommate"]

STATEMENTS = [
    "I adopted a {pet} named {pet_name} from the shelter in {city} last weekend.",
    "I started {hobby} classes on Tuesdays, my {relation} {other} got me into it.",
    "I just got a new job as a {job} at a clinic in {city}, I start on the {day}th.",
    "We are planning a trip to {city} in {month} to try the {food} there.",
    "I finished reading {book} yesterday, it took me {n} weeks.",
    "My {relation} {other} is moving to {city} next month for work.",
    "I ran {n} kilometers this morning, training for the {city} half marathon.",
    "I made {food} for {n} friends on Saturday and it turned out great.",
    "I sold my old car and bought a bike, I commute {n} km to work now.",
    "{other} and I went to a {hobby} workshop in {city}, we want to go again in {month}.",
]
REPLIES = [
    "That's great, how is {pet_name} settling in?",
    "Nice! How did you get into {hobby}?",
    "Congratulations! Is {city} far from where you live?",
    "I love {food}, you have to tell me where you ate it.",
    "Wow, {n} is a lot. Are you going to keep it up?",
    "Tell {other} I said hi! When are you seeing them next?",
]
QUESTIONS = [
    "What is the name of {name}'s {pet}?",
    "Which classes did {name} start?",
    "Where does {name}'s {relation} live now?",
    "What job did {name} get in {city}?",
    "Which book did {name} finish?",
    "Where is {name} planning a trip to?",
    "What did {name} cook for friends?",
    "How far does {name} commute?",
]
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]

# Statements whose fact is keyed: a later one about the same person supersedes the earlier.
KEYED_STATEMENTS = {
    "I moved to {city} last month, the rent is much better.": ("residence", "city"),
    "I work as a {job} now, mostly night shifts.": ("occupation", "job"),
}

GROUP = "scale"
SCOPE_KEY = Scope.of(group_id=GROUP).key
CELLS_PER_CONVERSATION = 20
"""Synthetic MemCells per conversation: one a day, like 200 messages in sessions of 10."""

ProgressHook = Callable[[str, int, int], None]
"""Called as ``hook(description, done, total)``."""


def _slots(rng: random.Random, name: str) -> dict[str, Any]:
    return {
        "name": name,
        "pet": rng.choice(PETS),
        "pet_name": rng.choice(PET_NAMES),
        "city": rng.choice(CITIES),
        "hobby": rng.choice(HOBBIES),
        "relation": rng.choice(RELATIONS),
        "other": f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        "job": rng.choice(JOBS),
        "day": rng.randint(2, 28),
        "month": rng.choice(MONTHS),
        "food": rng.choice(FOODS),
        "book": rng.choice(BOOKS),
        "n": rng.randint(2, 40),
    }


def _fill(template: str, rng: random.Random, name: str) -> str:
    return template.format(**_slots(rng, name))


def _conversation(index: int, seed: int) -> tuple[random.Random, str, str, datetime]:
    """Conversation ``index``'s random stream, its two people and its start.

    The first person's first name is what :func:`synthetic_queries` asks about.
    """
    rng = random.Random(seed * 1_000_003 + index)
    a = f"{FIRST[index % len(FIRST)]} {LAST[(index // len(FIRST)) % len(LAST)]}"
    b = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    # a distinct second per conversation: no two conversations share a (sender, content, time) key
    start = datetime(2023, 1, 1, 9, tzinfo=UTC) + timedelta(days=index % 300, seconds=index)
    return rng, a, b, start


def synthetic_conversations(
    total: int, *, per_conversation: int = 200, seed: int = 7, start_index: int = 0
) -> Iterator[list[dict[str, Any]]]:
    """Deterministic two-person conversations, ``per_conversation`` messages each, ``total`` in all.

    Conversation ``i`` is the same whatever ``total`` is, so a larger run extends a smaller
    one. Sessions of 10 messages are a day apart; message ids are ``s<i>:<n>``.
    """
    produced, index = 0, start_index
    while produced < total:
        rng, a, b, start = _conversation(index, seed)
        size = min(per_conversation, total - produced)
        messages = []
        for n in range(size):
            speaker, other = (a, b) if n % 2 == 0 else (b, a)
            template = rng.choice(STATEMENTS) if n % 2 == 0 else rng.choice(REPLIES + STATEMENTS)
            moment = start + timedelta(days=n // 10, minutes=2 * (n % 10))
            messages.append(
                {
                    "id": f"s{index}:{n}",
                    "sender": speaker,
                    "content": _fill(template, rng, other.split()[0]),
                    "timestamp": moment,
                }
            )
        produced += size
        index += 1
        yield messages


def synthetic_memcells(facts: int, *, per_cell: int = 10, seed: int = 7) -> Iterator[MemCell]:
    """Deterministic MemCells of the benchmark scope holding ``facts`` facts in all.

    Conversation ``i`` has the people of :func:`synthetic_conversations` ``i``; each of its
    MemCells is one day: ``per_cell`` statements, each a fact about its speaker written in
    the third person as the offline extractor writes facts. About one fact in six is keyed
    (residence, occupation), so later ones supersede earlier ones. Ids are unique, so the
    store ends up with exactly ``facts`` facts.
    """
    made, index = 0, 0
    while made < facts:
        rng, a, b, start = _conversation(index, seed)
        for day in range(CELLS_PER_CONVERSATION):
            if made >= facts:
                return
            cell_id = stable_id(SCOPE_KEY, index, day, prefix="cell_")
            messages, cell_facts = [], []
            for n in range(min(per_cell, facts - made)):
                speaker, other = (a, b) if n % 2 == 0 else (b, a)
                template = rng.choice([*STATEMENTS, *KEYED_STATEMENTS])
                slots = _slots(rng, other.split()[0])
                message = Message(
                    id=f"s{index}:{day * per_cell + n}",
                    sender=speaker,
                    content=template.format(**slots),
                    timestamp=start + timedelta(days=day, minutes=2 * n),
                )
                attribute, slot = KEYED_STATEMENTS.get(template, (None, None))
                messages.append(message)
                cell_facts.append(
                    Fact(
                        id=stable_id(SCOPE_KEY, message.id, prefix="fact_"),
                        cell_id=cell_id,
                        subject=speaker,
                        text=attributed(speaker, message.content),
                        timestamp=message.timestamp,
                        attribute=attribute,
                        value=slots[slot] if slot else None,
                        source_message_ids=[message.id],
                    )
                )
            made += len(cell_facts)
            title = episode_title(messages, [a, b])
            yield MemCell(
                id=cell_id,
                scope=SCOPE_KEY,
                title=title,
                episode=f"{a} and {b} talked about {title}. " + " ".join(f.text for f in cell_facts),
                facts=cell_facts,
                participants=[a, b],
                start_time=messages[0].timestamp,
                end_time=messages[-1].timestamp,
                messages=messages,
            )
        index += 1


def synthetic_queries(count: int, conversations: int, seed: int = 11) -> list[str]:
    """Questions about people of the first ``conversations`` synthetic conversations."""
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        index = rng.randrange(max(conversations, 1))
        name = FIRST[index % len(FIRST)]
        queries.append(_fill(rng.choice(QUESTIONS), rng, name))
    return queries


def current_rss_mb() -> float:
    """The process's current resident memory in MB (the peak on systems without /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb() -> float:
    """The process's peak resident memory so far in MB."""
    # The kernel updates the high-water mark lazily: never report it below the current size.
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, current_rss_mb())


def disk_mb(path: Path) -> float:
    """Bytes under ``path`` in MB."""
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            try:
                total += (Path(root) / name).stat().st_size
            except OSError:
                continue
    return total / 1_000_000


@dataclass
class SearchPoint:
    """The search series at one size: facts bulk-loaded, then searches timed."""

    facts: int
    memcells: int
    scenes: int
    load_facts_per_s: float
    """Facts per second through :meth:`EverMem.add_memcells` since the previous size."""
    search_p50_ms: float
    search_p95_ms: float
    rss_mb: float
    peak_rss_mb: float
    disk_mb: float
    seconds: float
    """This point: growing from the previous size, then measuring."""
    elapsed_s: float
    """Since the series began: how long reaching this size takes from an empty store."""
    floor_p50_ms: float | None = None
    """The floor (:mod:`evermem_integrations.bench.floor`) over the same units and queries, in the same run."""
    floor_p95_ms: float | None = None
    floor_ratio: float | None = None
    """``search_p50_ms / floor_p50_ms``: how many times the floor EverMem's search takes."""


@dataclass
class IngestPoint:
    """The ingestion series at one size: messages through add + flush, then searches timed."""

    messages: int
    facts: int
    memcells: int
    ingest_messages_per_s: float
    """Messages per second through add + flush since the previous size."""
    search_p50_ms: float
    search_p95_ms: float
    rss_mb: float
    peak_rss_mb: float
    disk_mb: float
    seconds: float
    elapsed_s: float


@contextmanager
def _store(store_path: str | Path | None, embedder: Embedder | None) -> Iterator[tuple[EverMem, Path]]:
    """An EverMem in ``store_path`` (or a temporary folder removed after)."""
    from evermem_integrations import EverMem

    with tempfile.TemporaryDirectory(prefix="evermem-scale-") as scratch:
        path = Path(store_path) if store_path else Path(scratch) / "store"
        with EverMem(path=path, embedder=embedder or StaticEmbedder()) as mem:
            mem.search("warm up", group_id=GROUP)  # loads the embedding model and tokenizer before anything is timed
            yield mem, path


def _measure(
    mem: EverMem,
    path: Path,
    queries: int,
    conversations: int,
    token_budget: int,
    method: SearchMethod,
    floor: FloorIndex | None = None,
) -> tuple[dict[str, float], float]:
    """What every point reports at its size: search latency, memory and disk (and the floor's latency).

    Latencies are in ms, after one untimed search that loads the indexes. Memory is read
    before the floor indexes the scope's units, so it is EverMem's alone. Also returns the
    seconds the floor took (indexing and searching), which the series' times leave out.
    """
    measured = {"rss_mb": current_rss_mb(), "peak_rss_mb": peak_rss_mb(), "disk_mb": disk_mb(path)}
    searches: list[Callable[[str], object]] = [
        lambda q: mem.search(q, group_id=GROUP, token_budget=token_budget, method=method)
    ]
    floor_seconds = 0.0
    if floor is not None:
        started = time.perf_counter()
        floor.add(scope_units(mem, SCOPE_KEY))
        floor_seconds = time.perf_counter() - started
        searches.append(lambda q: floor.search(q, token_budget))
    timings = _latencies(searches, synthetic_queries(queries, conversations))
    measured |= {"search_p50_ms": percentile(timings[0], 50), "search_p95_ms": percentile(timings[0], 95)}
    if floor is not None:
        measured |= {
            "floor_p50_ms": percentile(timings[1], 50),
            "floor_p95_ms": percentile(timings[1], 95),
            "floor_ratio": percentile(timings[0], 50) / percentile(timings[1], 50),
        }
        floor_seconds += sum(timings[1]) / 1000
    return measured, floor_seconds


def _latencies(searches: Sequence[Callable[[str], object]], questions: Sequence[str]) -> list[list[float]]:
    """Milliseconds of each search of each searcher, after one untimed search each that loads its indexes.

    The searchers take turns at every question, in alternating order: what the machine does
    meanwhile (another process, a slower minute) weighs on each of them alike, so their ratio
    holds even when their times do not.
    """
    for search in searches:
        search(questions[0])
    timings: list[list[float]] = [[] for _ in searches]
    for n, question in enumerate(questions):
        turns = range(len(searches)) if n % 2 == 0 else reversed(range(len(searches)))
        for k in turns:
            started = time.perf_counter()
            searches[k](question)
            timings[k].append((time.perf_counter() - started) * 1000)
    return timings


def scope_units(mem: EverMem, scope: str, kinds: Sequence[str] = DEFAULT_KINDS) -> list[Unit]:
    """Every searchable unit of ``scope`` of ``kinds`` (the corpus the floor indexes)."""
    units: list[Unit] = []
    for kind in kinds:
        ids = sorted(mem.records.unit_ids_of_kind(scope, kind))
        units += mem.records.units(scope, ids).values()
    return units


def _targets(sizes: Sequence[int]) -> list[int]:
    targets = sorted({int(s) for s in sizes if int(s) > 0})
    if not targets:
        raise ValueError("give at least one positive size")
    return targets


def run_search_scale(
    sizes: Sequence[int],
    *,
    queries: int = 50,
    token_budget: int = 2000,
    method: SearchMethod = "hybrid",
    batch_facts: int = 5000,
    embedder: Embedder | None = None,
    store_path: str | Path | None = None,
    progress: ProgressHook | None = None,
    on_point: Callable[[SearchPoint], None] | None = None,
    floor: bool = True,
) -> list[SearchPoint]:
    """Bulk-load one scope through ``sizes`` (stored facts, cumulative) and time searches at each.

    Args:
        sizes: store sizes in facts, e.g. ``[10_000, 100_000, 1_000_000]``.
        queries: searches timed at each size.
        token_budget: the search budget.
        method: the search method timed.
        batch_facts: facts per :meth:`EverMem.add_memcells` call (one embedding pass, one
            SQLite transaction; Chroma takes them in its largest batches).
        embedder: the embedding model (default: the bundled static model).
        store_path: where the store lives (default: a temporary folder, removed after).
        progress: called after every batch with facts stored and the total.
        on_point: called with each finished point.
        floor: also time the floor (tantivy + hnswlib, :mod:`~evermem_integrations.bench.floor`)
            over the same units and queries at each size (not counted in the point's seconds).

    """
    targets = _targets(sizes)
    cells = synthetic_memcells(targets[-1])
    points: list[SearchPoint] = []
    with _store(store_path, embedder) as (mem, path):
        floor_index = FloorIndex(mem.embedder, mem.recollector.config) if floor else None
        floor_seconds = 0.0
        series_started = time.perf_counter()
        stored = stored_cells = 0
        for target in targets:
            point_started = time.perf_counter()
            load_seconds = 0.0
            batch: list[MemCell] = []
            batch_size = 0
            for cell in cells:
                batch.append(cell)
                batch_size += len(cell.facts)
                if batch_size >= batch_facts or stored + batch_size >= target:
                    started = time.perf_counter()
                    mem.add_memcells(batch, group_id=GROUP)
                    load_seconds += time.perf_counter() - started
                    stored, stored_cells = stored + batch_size, stored_cells + len(batch)
                    batch, batch_size = [], 0
                    if progress:
                        progress(f"loading {target:,} facts", stored, targets[-1])
                    if stored >= target:
                        break
            conversations = -(-stored_cells // CELLS_PER_CONVERSATION)
            measured, floor_spent = _measure(mem, path, queries, conversations, token_budget, method, floor_index)
            floor_seconds += floor_spent
            seconds = time.perf_counter() - point_started - floor_spent
            stats = mem.stats(group_id=GROUP)
            point = SearchPoint(
                facts=stats.facts,
                memcells=stats.memcells,
                scenes=stats.scenes,
                load_facts_per_s=(stats.facts - (points[-1].facts if points else 0)) / load_seconds,
                seconds=seconds,
                elapsed_s=time.perf_counter() - series_started - floor_seconds,
                **measured,
            )
            points.append(point)
            if on_point:
                on_point(point)
    return points


def run_ingest_scale(
    sizes: Sequence[int],
    *,
    queries: int = 50,
    per_conversation: int = 200,
    token_budget: int = 2000,
    method: SearchMethod = "hybrid",
    embedder: Embedder | None = None,
    store_path: str | Path | None = None,
    progress: ProgressHook | None = None,
    on_point: Callable[[IngestPoint], None] | None = None,
) -> list[IngestPoint]:
    """Grow one scope through ``sizes`` (messages, cumulative) with ``add`` + ``flush``.

    Args:
        sizes: store sizes in messages, e.g. ``[10_000, 50_000, 100_000]``.
        queries: searches timed at each size.
        per_conversation: messages per synthetic conversation (one ``add`` + ``flush`` each).
        token_budget: the search budget.
        method: the search method timed.
        embedder: the embedding model (default: the bundled static model).
        store_path: where the store lives (default: a temporary folder, removed after).
        progress: called after every conversation with messages done and the total.
        on_point: called with each finished point.

    """
    targets = _targets(sizes)
    points: list[IngestPoint] = []
    with _store(store_path, embedder) as (mem, path):
        series_started = time.perf_counter()
        done, conversations = 0, 0
        for target in targets:
            point_started = time.perf_counter()
            ingest_seconds = 0.0
            for batch in synthetic_conversations(
                target - done, per_conversation=per_conversation, start_index=conversations
            ):
                started = time.perf_counter()
                mem.add(batch, group_id=GROUP)
                mem.flush(group_id=GROUP)
                ingest_seconds += time.perf_counter() - started
                done += len(batch)
                conversations += 1
                if progress:
                    progress(f"ingesting {target:,} messages", done, targets[-1])
            measured, _ = _measure(mem, path, queries, conversations, token_budget, method)
            stats = mem.stats(group_id=GROUP)
            point = IngestPoint(
                messages=stats.messages,
                facts=stats.facts,
                memcells=stats.memcells,
                ingest_messages_per_s=(stats.messages - (points[-1].messages if points else 0)) / ingest_seconds,
                seconds=time.perf_counter() - point_started,
                elapsed_s=time.perf_counter() - series_started,
                **measured,
            )
            points.append(point)
            if on_point:
                on_point(point)
    return points


@dataclass
class TenantsPoint:
    """The many-tenants series at one size: many small scopes in one store."""

    scopes: int
    messages: int
    ingest_messages_per_s: float
    """Messages per second through add + flush (one scope at a time) since the previous size."""
    search_p50_ms: float
    search_p95_ms: float
    """Hybrid search on a small scope picked at random for each query."""
    reopen_first_search_s: float
    """Opening the store in a fresh process (imports excluded) and its first search."""
    disk_mb: float
    bytes_per_message: float
    files: int
    seconds: float
    elapsed_s: float


TenantIds = Literal["numbered", "uuid"]
TENANT_IDS: tuple[TenantIds, ...] = ("numbered", "uuid")


def tenant_user(index: int, ids: TenantIds = "numbered") -> str:
    """The user id of tenant ``index``: ``tenant-<index>``, or a UUID drawn from it, as real user ids often are."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"tenant-{index}")) if ids == "uuid" else f"tenant-{index}"


def tenant_queries(count: int, scopes: int, seed: int = 13) -> list[tuple[int, str]]:
    """``(tenant, question)`` pairs: each question about the person of its tenant's conversation."""
    rng = random.Random(seed)
    picked = []
    for _ in range(count):
        index = rng.randrange(scopes)
        picked.append((index, _fill(rng.choice(QUESTIONS), rng, FIRST[index % len(FIRST)])))
    return picked


def _grow_tenants(path: str, start: int, stop: int, per_scope: int, ids: TenantIds) -> float:
    """Add + flush the conversations of tenants ``start..stop`` (a child process); returns seconds spent."""
    from evermem_integrations import EverMem

    with EverMem(path=path, embedder=StaticEmbedder()) as mem:
        started = time.perf_counter()
        for index, batch in enumerate(
            synthetic_conversations((stop - start) * per_scope, per_conversation=per_scope, start_index=start),
            start=start,
        ):
            mem.add(batch, user_id=tenant_user(index, ids))
            mem.flush(user_id=tenant_user(index, ids))
        return time.perf_counter() - started


def _reopen_tenants(
    path: str, questions: list[tuple[int, str]], token_budget: int, ids: TenantIds
) -> tuple[float, list[float]]:
    """Open the store, search once, then time ``questions`` (a child process, as a restarted server)."""
    import chromadb  # noqa: F401 (imported before the clock starts, as a running app has)

    from evermem_integrations import EverMem

    started = time.perf_counter()
    with EverMem(path=path, embedder=StaticEmbedder()) as mem:
        first, question = questions[0]
        mem.search(question, token_budget=token_budget, user_id=tenant_user(first, ids))
        reopen = time.perf_counter() - started
        timings = []
        for index, question in questions[1:]:
            begun = time.perf_counter()
            mem.search(question, token_budget=token_budget, user_id=tenant_user(index, ids))
            timings.append((time.perf_counter() - begun) * 1000)
    return reopen, timings


def _in_child(function: Callable[..., Any], *args: Any) -> Any:
    """Run ``function`` in a fresh process: embedded Chroma's folder lock lasts as long as the process."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def run_tenants_scale(
    sizes: Sequence[int],
    *,
    per_scope: int = 20,
    queries: int = 50,
    token_budget: int = 2000,
    tenant_ids: TenantIds = "numbered",
    store_path: str | Path | None = None,
    progress: ProgressHook | None = None,
    on_point: Callable[[TenantsPoint], None] | None = None,
) -> list[TenantsPoint]:
    """Grow one store through ``sizes`` scopes (cumulative) of ``per_scope`` messages each.

    Each size is ingested (``add`` + ``flush`` per scope) and then measured in a fresh
    process, as a restarted service would open the store: the time to open it and answer a
    first search, then search latency on small scopes picked at random, disk per message.

    Args:
        sizes: scope counts, e.g. ``[1_000, 10_000]``.
        per_scope: messages per scope (one synthetic conversation each).
        queries: searches timed at each size.
        token_budget: the search budget.
        tenant_ids: how tenants' user ids look (:func:`tenant_user`): the scope key is in every
            scope's rows, so its length weighs on the bytes a message.
        store_path: where the store lives (default: a temporary folder, removed after).
        progress: called after every size's ingestion with scopes done and the total.
        on_point: called with each finished point.

    """
    targets = _targets(sizes)
    points: list[TenantsPoint] = []
    with tempfile.TemporaryDirectory(prefix="evermem-tenants-") as scratch:
        path = Path(store_path) if store_path else Path(scratch) / "store"
        series_started = time.perf_counter()
        done = 0
        for target in targets:
            point_started = time.perf_counter()
            if progress:
                progress(f"ingesting {target:,} scopes", done, targets[-1])
            ingest_seconds = _in_child(_grow_tenants, str(path), done, target, per_scope, tenant_ids)
            messages = (target - done) * per_scope
            done = target
            if progress:
                progress(f"searching {target:,} scopes", done, targets[-1])
            questions = tenant_queries(queries + 1, target)
            reopen, timings = _in_child(_reopen_tenants, str(path), questions, token_budget, tenant_ids)
            disk = disk_mb(path)
            point = TenantsPoint(
                scopes=target,
                messages=target * per_scope,
                ingest_messages_per_s=messages / ingest_seconds,
                search_p50_ms=percentile(timings, 50),
                search_p95_ms=percentile(timings, 95),
                reopen_first_search_s=reopen,
                disk_mb=disk,
                bytes_per_message=disk * 1_000_000 / (target * per_scope),
                files=sum(len(names) for _, _, names in os.walk(path)),
                seconds=time.perf_counter() - point_started,
                elapsed_s=time.perf_counter() - series_started,
            )
            points.append(point)
            if on_point:
                on_point(point)
    return points
