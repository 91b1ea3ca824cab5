"""The concurrency benchmark: several clients adding and searching at once over many scopes.

Each client owns every ``clients``-th scope and writes its conversation in small ``add``
batches, a ``flush`` at the end, with a search of a random scope after every write, as a
service's workers would. When every client is done, each searches scopes written by the
others and counts the searches that found their memories (``cross_reads``). On an embedded
store the clients are threads of one process (embedded Chroma is one process's); on a
server pair (``database_url`` + ``chroma_url``) they are processes, each with its own engine.
The run's scopes are named after a run id and deleted at the end, so a shared database is
left as it was found.
"""

from __future__ import annotations

import multiprocessing
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evermem_integrations.bench.metrics import percentile
from evermem_integrations.bench.scale import synthetic_conversations, tenant_queries


@dataclass
class ClientLog:
    """What one client did: latencies in ms and the errors it met, by type."""

    add_ms: list[float] = field(default_factory=list)
    search_ms: list[float] = field(default_factory=list)
    messages: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    cross_reads: int = 0
    cross_found: int = 0


@dataclass
class ConcurrencyReport:
    """One run of the benchmark."""

    mode: str
    """``embedded (threads)`` or ``server (processes)``."""
    clients: int
    scopes: int
    messages: int
    seconds: float
    messages_per_s: float
    add_p50_ms: float
    add_p95_ms: float
    search_p50_ms: float
    search_p95_ms: float
    searches_per_s: float
    errors: dict[str, int]
    cross_reads: int
    cross_found: int


def _user(run: str, index: int) -> str:
    return f"bench-{run}-{index}"


@contextmanager
def _engine(options: Mapping[str, Any], shared: Any) -> Iterator[Any]:
    """The shared engine (threads of one process), or one of this process's own, closed after."""
    if shared is not None:
        yield shared
        return
    from evermem_integrations import EverMem

    with EverMem(**options) as mem:
        yield mem


def _client(
    options: Mapping[str, Any],
    run: str,
    client: int,
    clients: int,
    scopes: int,
    per_scope: int,
    batch: int,
    engine: Any = None,
) -> ClientLog:
    """Write the client's scopes, searching a random scope after every write (``engine``: a shared one)."""
    log = ClientLog()
    owned = range(client, scopes, clients)
    questions = tenant_queries(len(owned) * (per_scope // batch + 2) + 8, scopes, seed=17 + client)
    asked = iter(questions)
    with _engine(options, engine) as mem:

        def timed(target: list[float], call: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = call(*args, **kwargs)
            except Exception as exc:  # counted, as a client would log it and carry on
                log.errors[type(exc).__name__] += 1
                return None
            target.append((time.perf_counter() - started) * 1000)
            return result

        for index in owned:
            conversation = next(synthetic_conversations(per_scope, per_conversation=per_scope, start_index=index))
            for start in range(0, len(conversation), batch):
                if timed(log.add_ms, mem.add, conversation[start : start + batch], user_id=_user(run, index)):
                    log.messages += len(conversation[start : start + batch])
                other, question = next(asked)
                timed(log.search_ms, mem.search, question, user_id=_user(run, other))
            timed(log.add_ms, mem.flush, user_id=_user(run, index))
    return log


def _cross_reads(
    options: Mapping[str, Any], run: str, client: int, clients: int, scopes: int, engine: Any = None
) -> ClientLog:
    """Search scopes other clients wrote; a search that finds memories of that scope counts as found."""
    log = ClientLog()
    rng = random.Random(client)
    others = [i for i in range(scopes) if i % clients != client] or list(range(scopes))
    with _engine(options, engine) as mem:
        for _, question in tenant_queries(8, scopes, seed=29 + client):
            target = rng.choice(others)
            log.cross_reads += 1
            try:
                found = mem.search(question, user_id=_user(run, target))
            except Exception as exc:
                log.errors[type(exc).__name__] += 1
                continue
            log.cross_found += bool(found.items)
    return log


def _delete(options: Mapping[str, Any], run: str, scopes: int, engine: Any = None) -> None:
    with _engine(options, engine) as mem:
        for index in range(scopes):
            mem.delete(user_id=_user(run, index))


def run_concurrency(
    *,
    clients: int = 8,
    scopes: int = 1_000,
    per_scope: int = 20,
    batch: int = 4,
    database_url: str | None = None,
    chroma_url: str | None = None,
    path: str | Path | None = None,
    keep: bool = False,
) -> ConcurrencyReport:
    """Run ``clients`` writers and readers at once over ``scopes`` scopes of ``per_scope`` messages.

    With ``database_url`` and ``chroma_url`` the clients are processes sharing the server pair;
    otherwise threads sharing one embedded store at ``path`` (default: a temporary folder).
    """
    run = uuid.uuid4().hex[:8]
    logs: list[ClientLog] = []
    server = database_url is not None or chroma_url is not None
    with tempfile.TemporaryDirectory(prefix="evermem-concurrency-") as scratch:
        options: dict[str, Any] = (
            {"path": None, "database_url": database_url, "chroma_url": chroma_url}
            if server
            else {"path": str(path or Path(scratch) / "store")}
        )
        started = time.perf_counter()
        if server:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(max_workers=clients, mp_context=context) as pool:
                writes = [
                    pool.submit(_client, options, run, c, clients, scopes, per_scope, batch) for c in range(clients)
                ]
                logs = [w.result() for w in writes]
                seconds = time.perf_counter() - started
                reads = [pool.submit(_cross_reads, options, run, c, clients, scopes) for c in range(clients)]
                logs += [r.result() for r in reads]
            if not keep:
                _delete(options, run, scopes)
        else:
            from evermem_integrations import EverMem

            with EverMem(**options) as engine, ThreadPoolExecutor(max_workers=clients) as threads:
                barrier = threading.Barrier(clients)

                def client(c: int) -> ClientLog:
                    barrier.wait()
                    return _client(options, run, c, clients, scopes, per_scope, batch, engine)

                logs = list(threads.map(client, range(clients)))
                seconds = time.perf_counter() - started
                logs += list(
                    threads.map(lambda c: _cross_reads(options, run, c, clients, scopes, engine), range(clients))
                )
                if not keep:
                    _delete(options, run, scopes, engine)
    adds = [ms for log in logs for ms in log.add_ms]
    searches = [ms for log in logs for ms in log.search_ms]
    messages = sum(log.messages for log in logs)
    errors: Counter[str] = Counter()
    for log in logs:
        errors.update(log.errors)
    return ConcurrencyReport(
        mode="server (processes)" if server else "embedded (threads)",
        clients=clients,
        scopes=scopes,
        messages=messages,
        seconds=seconds,
        messages_per_s=messages / seconds if seconds else 0.0,
        add_p50_ms=percentile(adds, 50),
        add_p95_ms=percentile(adds, 95),
        search_p50_ms=percentile(searches, 50),
        search_p95_ms=percentile(searches, 95),
        searches_per_s=len(searches) / seconds if seconds else 0.0,
        errors=dict(errors),
        cross_reads=sum(log.cross_reads for log in logs),
        cross_found=sum(log.cross_found for log in logs),
    )
