"""The scale benchmark: how search latency, ingestion rate, memory and disk grow with the store.

Synthetic two-person conversations (deterministic, seeded) are written through the engine's
own write path, ``EverMem.add`` then ``EverMem.flush`` per conversation, into one scope, so
every search runs over the whole store (the worst case). Sizes are cumulative: the store
grows to the first size, is measured, then grows on to the next. At each size the runner
records hybrid search p50/p95 over queries about the stored conversations, the ingestion
rate of the messages added since the previous size, the process's resident memory, the
store's size on disk, and how long the point took.
"""

from __future__ import annotations

import os
import random
import resource
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from evermem_integrations.bench.metrics import percentile
from evermem_integrations.engine.embeddings import Embedder, StaticEmbedder

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

ProgressHook = Callable[[str, int, int], None]
"""Called as ``hook(description, messages_done, messages_total)``."""


def _fill(template: str, rng: random.Random, name: str) -> str:
    return template.format(
        name=name,
        pet=rng.choice(PETS),
        pet_name=rng.choice(PET_NAMES),
        city=rng.choice(CITIES),
        hobby=rng.choice(HOBBIES),
        relation=rng.choice(RELATIONS),
        other=f"{rng.choice(FIRST)} {rng.choice(LAST)}",
        job=rng.choice(JOBS),
        day=rng.randint(2, 28),
        month=rng.choice(MONTHS),
        food=rng.choice(FOODS),
        book=rng.choice(BOOKS),
        n=rng.randint(2, 40),
    )


def synthetic_conversations(
    total: int, *, per_conversation: int = 200, seed: int = 7, start_index: int = 0
) -> Iterator[list[dict[str, Any]]]:
    """Deterministic two-person conversations, ``per_conversation`` messages each, ``total`` in all.

    Conversation ``i`` is the same whatever ``total`` is, so a larger run extends a smaller
    one. Sessions of 10 messages are a day apart; message ids are ``s<i>:<n>``.
    """
    produced, index = 0, start_index
    while produced < total:
        rng = random.Random(seed * 1_000_003 + index)
        a = f"{FIRST[index % len(FIRST)]} {LAST[(index // len(FIRST)) % len(LAST)]}"
        b = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        # a distinct second per conversation: no two conversations share a (sender, content, time) key
        start = datetime(2023, 1, 1, 9, tzinfo=UTC) + timedelta(days=index % 300, seconds=index)
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


def synthetic_queries(count: int, conversations: int, seed: int = 11) -> list[str]:
    """Questions about people of the first ``conversations`` synthetic conversations."""
    rng = random.Random(seed)
    queries = []
    for _ in range(count):
        index = rng.randrange(max(conversations, 1))
        name = FIRST[index % len(FIRST)]
        queries.append(_fill(rng.choice(QUESTIONS), rng, name))
    return queries


def rss_mb() -> float:
    """The process's current resident memory in MB (peak on systems without /proc)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
class ScalePoint:
    """What one store size measured."""

    messages: int
    facts: int
    memcells: int
    ingest_messages_per_s: float
    search_p50_ms: float
    search_p95_ms: float
    rss_mb: float
    peak_rss_mb: float
    disk_mb: float
    seconds: float


def run_scale(
    sizes: Sequence[int],
    *,
    queries: int = 50,
    per_conversation: int = 200,
    token_budget: int = 2000,
    method: str = "hybrid",
    embedder: Embedder | None = None,
    store_path: str | Path | None = None,
    progress: ProgressHook | None = None,
    on_point: Callable[[ScalePoint], None] | None = None,
) -> list[ScalePoint]:
    """Grow one store through ``sizes`` (messages, cumulative) and measure each size.

    Args:
        sizes: store sizes in messages, e.g. ``[10_000, 100_000, 1_000_000]``.
        queries: searches timed at each size.
        per_conversation: messages per synthetic conversation (one ``add`` + ``flush`` each).
        token_budget: the search budget.
        method: the search method timed (``hybrid`` by default).
        embedder: the embedding model (default: the bundled static model).
        store_path: where the store lives (default: a temporary folder, removed after).
        progress: called after every conversation with messages done and the total.
        on_point: called with each finished point (the CLI prints it with its duration).

    """
    from evermem_integrations import EverMem

    targets = sorted({int(s) for s in sizes if int(s) > 0})
    if not targets:
        raise ValueError("give at least one positive size")
    points: list[ScalePoint] = []
    with tempfile.TemporaryDirectory(prefix="evermem-scale-") as scratch:
        path = Path(store_path) if store_path else Path(scratch) / "store"
        with EverMem(path=path, embedder=embedder or StaticEmbedder()) as mem:
            mem.search("warm up", group_id="scale", token_budget=token_budget, method=method)  # type: ignore[arg-type]
            done, conversations = 0, 0
            for target in targets:
                point_started = time.perf_counter()
                ingest_seconds = 0.0
                added_here = 0
                for batch in synthetic_conversations(
                    target - done, per_conversation=per_conversation, start_index=conversations
                ):
                    started = time.perf_counter()
                    mem.add(batch, group_id="scale")
                    mem.flush(group_id="scale")
                    ingest_seconds += time.perf_counter() - started
                    added_here += len(batch)
                    conversations += 1
                    if progress:
                        progress(f"{target:,} messages", done + added_here, targets[-1])
                done += added_here
                latencies = []
                for query in synthetic_queries(queries, conversations):
                    started = time.perf_counter()
                    mem.search(query, group_id="scale", token_budget=token_budget, method=method)  # type: ignore[arg-type]
                    latencies.append((time.perf_counter() - started) * 1000)
                stats = mem.stats(group_id="scale")
                point = ScalePoint(
                    messages=stats.messages,
                    facts=stats.facts,
                    memcells=stats.memcells,
                    ingest_messages_per_s=added_here / ingest_seconds if ingest_seconds else float("nan"),
                    search_p50_ms=percentile(latencies, 50),
                    search_p95_ms=percentile(latencies, 95),
                    rss_mb=rss_mb(),
                    peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    disk_mb=disk_mb(path),
                    seconds=time.perf_counter() - point_started,
                )
                points.append(point)
                if on_point:
                    on_point(point)
    return points
