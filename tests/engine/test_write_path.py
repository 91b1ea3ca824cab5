"""The write path: one unit of work per add/flush, serialised writers, and recovery after kill -9."""

from __future__ import annotations

import json
import multiprocessing
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from evermem_integrations import EverMem
from evermem_integrations.engine.consolidation import ProfileConfig
from evermem_integrations.engine.models import Scope
from evermem_integrations.errors import ScopeError, StoreUnavailableError
from tests.engine.write_path_support import (
    EveryMessage,
    ResidenceExtractor,
    SlowExtractor,
    conversation,
    open_records_at,
    snapshot,
    unit_ids,
    vector_ids,
)

WRITER = Path(__file__).with_name("writer_process.py")


def _residence(n: int, city: str) -> dict[str, str]:
    return {"id": f"r{n}", "sender": "Maya", "content": f"I live in {city}.", "timestamp": f"2024-05-{n + 1:02d}"}


def test_one_batch_retiring_a_profile_entry_twice_is_stored_whole(tmp_path: Path) -> None:
    # Denver retires Boston; Austin retires Denver and, past the history limit, drops Boston
    # again: Chroma refused the doubled id (DuplicateIDError) after the MemCells committed.
    mem = EverMem(
        path=tmp_path,
        extractor=ResidenceExtractor(),
        boundary_detector=EveryMessage(),
        profile=ProfileConfig(max_history_per_attribute=1),
    )
    with mem:
        mem.add([_residence(0, "Boston")], user_id="u")
        mem.add([_residence(n, city) for n, city in enumerate(["Denver", "Austin", "Miami"], start=1)], user_id="u")
        mem.flush(user_id="u")
        assert [i.value for p in mem.get_profile(user_id="u") for i in p.traits] == ["Miami"]
        assert mem.stats(user_id="u").buffered == 0
        assert vector_ids(mem, "user=u") == unit_ids(tmp_path, "user=u")
    assert snapshot(tmp_path)["outbox"] == []


# -- tenants -----------------------------------------------------------------------------------
LOOKALIKE = st.text(alphabet="ab|=%,;:uergopt \u2223\uff5c\u01c0", min_size=1, max_size=8).filter(str.strip)
SCOPES = st.fixed_dictionaries(
    {}, optional={"user_id": LOOKALIKE, "group_id": LOOKALIKE, "agent_id": LOOKALIKE}
).filter(bool)


@settings(max_examples=400, deadline=None)
@given(SCOPES, SCOPES)
def test_distinct_scopes_have_distinct_keys(left: dict[str, str], right: dict[str, str]) -> None:
    a, b = Scope.of(**left), Scope.of(**right)
    assert (a.key == b.key) == (a == b)
    assert Scope.from_key(a.key) == a


def test_a_scope_id_holding_separators_is_its_own_tenant(mem: EverMem) -> None:
    forged = {"group_id": "g1|user=u1"}
    honest = {"group_id": "g1", "user_id": "u1"}
    mem.add([{"sender": "Ana", "content": "My locker code is 4411.", "timestamp": "2024-01-01"}], **honest)
    result = mem.add([{"sender": "Ana", "content": "My locker code is 4411.", "timestamp": "2024-01-01"}], **forged)
    assert result.added == 1  # not skipped as the other tenant's duplicate
    mem.add([{"sender": "Eve", "content": "I like locker rooms.", "timestamp": "2024-01-02"}], **forged)
    assert all(i.subject == "Ana" for i in mem.search("locker", **honest).items)
    assert len(mem.get(kind="message", **honest)) == 1
    assert len(mem.get(kind="message", **forged)) == 2
    assert sorted(s.key for s in mem.scopes()) == sorted([Scope.of(**honest).key, Scope.of(**forged).key])
    assert mem.delete(group_id="g1|user=u1") == 1
    assert len(mem.get(kind="message", **honest)) == 1


_SHARED = EverMem(path=None)
_SECRETS: dict[Scope, set[str]] = {}


@settings(max_examples=60, deadline=None)
@given(SCOPES, SCOPES, st.integers(min_value=0, max_value=10**9))
@example({"group_id": "g1|user=u1"}, {"group_id": "g1", "user_id": "u1"}, 7)
@example({"user_id": "a=b"}, {"user_id": "a%3Db"}, 8)
def test_tenants_see_only_their_own_memories(left: dict[str, str], right: dict[str, str], nonce: int) -> None:
    for n, ids in enumerate((left, right)):
        secret = f"zq{nonce}x{n}"
        _SHARED.add([{"sender": "Ana", "content": f"The vault code is {secret}.", "timestamp": "2024-01-01"}], **ids)
        _SECRETS.setdefault(Scope.of(**ids), set()).add(secret)
    for ids in (left, right):
        own = _SECRETS[Scope.of(**ids)]
        found = " ".join(i.text for i in _SHARED.search(f"vault code zq{nonce}x0 zq{nonce}x1", **ids).items)
        seen = {word.strip(".") for word in found.split() if word.startswith("zq")}
        assert seen <= own
        assert {m.content.split()[-1].strip(".") for m in _SHARED.get(kind="message", limit=10_000, **ids)} == own
        exported = _SHARED.export_scope(**ids)["messages"]
        assert {m["content"].split()[-1].strip(".") for m in exported} == own


@pytest.mark.parametrize("bad", ["a\x00b", "tab\there", "\ud800", "x" * 257, "   "])
def test_unusable_scope_ids_are_refused(mem: EverMem, bad: str) -> None:
    with pytest.raises(ScopeError):
        mem.add([{"sender": "Ana", "content": "hello there", "timestamp": "2024-01-01"}], user_id=bad)


def test_scope_keys_of_earlier_releases_are_unchanged() -> None:
    # Ids without separators keep the key they had: stores written before keep their partitions.
    assert Scope.of(user_id="u1", group_id="g 1", agent_id="bot").key == "agent=bot|group=g 1|user=u1"


# -- concurrent writers --------------------------------------------------------------------------
def _assert_cut_once(mem: EverMem, scope: str, expected: int) -> None:
    cells = mem.get(kind="episode", user_id=scope.removeprefix("user="), limit=10_000)
    slots = [m.id for c in cells for m in c.messages]
    assert len(slots) == len(set(slots)) == expected  # every message in exactly one MemCell
    assert mem.stats(user_id=scope.removeprefix("user=")).buffered == 0


def test_threads_sharing_one_engine_cut_each_message_once(tmp_path: Path) -> None:
    messages = conversation(96)
    with EverMem(path=tmp_path, extractor=SlowExtractor()) as mem:

        def writer(offset: int) -> None:
            # Each thread adds a quarter of the chat (interleaved) and then every message again.
            mine = messages[offset::4]
            for start in range(0, len(mine), 3):
                mem.add(mine[start : start + 3], user_id="u")
            mem.add(messages, user_id="u")

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        mem.flush(user_id="u")
        assert mem.stats(user_id="u").messages == 96
        _assert_cut_once(mem, "user=u", 96)
        assert vector_ids(mem, "user=u") == unit_ids(tmp_path, "user=u")


def _writers(args: list[list[str]]) -> list[subprocess.CompletedProcess[str]]:
    processes = [
        subprocess.Popen([sys.executable, str(WRITER), *a], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for a in args
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def test_processes_opening_one_new_sqlite_file_at_once_all_open_it(tmp_path: Path) -> None:
    # Seen in CI: the PRAGMA that turns WAL on met another process's lock and raised "database is
    # locked" at once, without the busy timeout. Four processes open each new file at the same instant.
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        for round_ in range(8):
            path = str(tmp_path / f"new-{round_}.sqlite3")
            start = time.time() + 0.2
            assert pool.starmap(open_records_at, [(path, start)] * 4) == [""] * 4, round_


@pytest.mark.slow
@pytest.mark.integration
def test_processes_on_one_new_store_with_a_chroma_server_cut_each_message_once(tmp_path: Path, chroma_url: str) -> None:
    store = tmp_path / "shared"  # new: the four processes also create it at once
    results = _writers([[str(store), "p", "0", "80", str(3 + n), "--chroma-url", chroma_url] for n in range(4)])
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr[-2000:] for r in results]
    with EverMem(path=store, chroma_url=chroma_url, collection_name="evermem") as mem:
        mem.flush(user_id="p")
        assert mem.stats(user_id="p").messages == 80
        _assert_cut_once(mem, "user=p", 80)
        assert vector_ids(mem, "user=p") == unit_ids(store, "user=p")


@pytest.mark.slow
def test_other_processes_on_an_open_embedded_store_are_told_to_use_a_chroma_server(tmp_path: Path) -> None:
    with EverMem(path=tmp_path) as mem:
        mem.add(conversation(10), user_id="e")
        results = _writers([[str(tmp_path), "e", "0", "40", "4", "--flush"] for _ in range(4)])
        assert [r.returncode for r in results] == [3, 3, 3, 3], [r.stderr[-2000:] for r in results]
        assert all("chroma_url" in r.stdout for r in results)
        assert mem.stats(user_id="e").messages == 10  # nothing of theirs written, nothing of ours lost
        mem.flush(user_id="e")
        _assert_cut_once(mem, "user=e", 10)


# -- kill -9 ---------------------------------------------------------------------------------------
MESSAGES, BATCH = 60, 4


def _run(store: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), str(store), "k", "0", str(MESSAGES), str(BATCH), "--flush", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _kill_somewhere(store: Path, rng: random.Random) -> str:
    """Start the writer and kill -9 it after a random number of its calls, a random moment later."""
    process = _run(store)
    assert process.stdout is not None
    calls = MESSAGES // BATCH + 1
    after = rng.randrange(calls)  # the last call is the flush
    for _ in range(after):
        if not process.stdout.readline():
            break
    time.sleep(rng.uniform(0, 0.08))
    process.kill()
    process.wait()
    return f"after call {after}"


@pytest.mark.slow
def test_kill_9_at_random_points_recovers_to_a_clean_run(tmp_path: Path) -> None:
    clean = tmp_path / "clean"
    reference = _run(clean, "--report", str(tmp_path / "clean.json"))
    assert reference.wait(timeout=300) == 0, reference.stderr.read() if reference.stderr else ""
    expected = snapshot(clean)
    expected_vectors = json.loads((tmp_path / "clean.json").read_text())
    rng = random.Random(20261201)
    kills = []
    for store_no in range(3):
        store = tmp_path / f"killed{store_no}"
        for _ in range(7):
            kills.append(_kill_somewhere(store, rng))
            # Each killed store must open and pass its integrity check between kills.
        recovered = _run(store, "--report", str(tmp_path / f"killed{store_no}.json"))
        assert recovered.wait(timeout=300) == 0, recovered.stderr.read() if recovered.stderr else ""
        assert snapshot(store) == expected
        assert json.loads((tmp_path / f"killed{store_no}.json").read_text()) == expected_vectors
    assert len(kills) == 21


class _FailingOnce:
    """A vector index whose first upsert fails, as a Chroma server that is briefly away."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.failed = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def upsert(self, *args: object, **kwargs: object) -> None:
        if not self.failed:
            self.failed = True
            raise ConnectionError("chroma is away")
        self.inner.upsert(*args, **kwargs)  # type: ignore[attr-defined]


def test_vectors_not_applied_after_commit_are_applied_by_the_next_write(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with EverMem(path=tmp_path) as mem:
        mem.ingest.vectors = _FailingOnce(mem.vectors)  # type: ignore[assignment]
        first = mem.add(conversation(8), user_id="u")
        assert first.added == 8 and "queued" in caplog.text
        assert snapshot(tmp_path)["outbox"]  # committed, waiting
        mem.add(conversation(12)[8:], user_id="u")
        assert snapshot(tmp_path)["outbox"] == []
        assert vector_ids(mem, "user=u") == unit_ids(tmp_path, "user=u")


def test_an_unreachable_chroma_server_is_a_store_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(StoreUnavailableError, match="chroma run"):
        EverMem(path=tmp_path, chroma_url=f"http://127.0.0.1:{port}")
