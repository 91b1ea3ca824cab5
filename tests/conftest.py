"""Shared fixtures: an in-memory engine, a persistent one, and the LoCoMo dev subset."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.datasets import LocomoConversation, LongMemEvalQuestion, load_locomo, load_longmemeval

REPO = Path(__file__).resolve().parents[1]
LOCOMO_PATH = REPO.parent / "shared" / "data" / "locomo" / "locomo-dev.json"
LONGMEMEVAL_PATH = REPO.parent / "shared" / "data" / "longmemeval" / "longmemeval-s-dev60.json"


@pytest.fixture(autouse=True)
def no_store_in_the_working_directory() -> Iterator[None]:
    """A test that forgets ``path=`` writes the default ``./.evermem`` where pytest runs: fail it."""
    default = Path.cwd() / ".evermem"
    existed = default.exists()
    yield
    if not existed and default.exists():
        shutil.rmtree(default)
        pytest.fail("the test wrote a store into ./.evermem: pass path=None or a temporary folder")


@pytest.fixture
def mem() -> Iterator[EverMem]:
    """An in-memory engine on the default offline stack (bundled embeddings, offline extractor)."""
    engine = EverMem(path=None)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def locomo() -> list[LocomoConversation]:
    """The LoCoMo development subset from ../shared (never copied into the repo: CC BY-NC)."""
    if not LOCOMO_PATH.exists():
        pytest.skip(f"LoCoMo dev subset not found at {LOCOMO_PATH}")
    return load_locomo(LOCOMO_PATH)


@pytest.fixture(scope="session")
def longmemeval_question() -> LongMemEvalQuestion:
    """The first question of the LongMemEval development subset, with its haystack (from ../shared)."""
    if not LONGMEMEVAL_PATH.exists():
        pytest.skip(f"LongMemEval dev subset not found at {LONGMEMEVAL_PATH}")
    return load_longmemeval(LONGMEMEVAL_PATH, limit=1)[0]


@pytest.fixture(scope="session")
def locomo_mem(locomo: list[LocomoConversation], tmp_path_factory: pytest.TempPathFactory) -> Iterator[EverMem]:
    """One persistent engine holding the first LoCoMo conversation, ingested and flushed once."""
    engine = EverMem(path=tmp_path_factory.mktemp("locomo"))
    conversation = locomo[0]
    engine.add(conversation.messages, group_id=conversation.sample_id)
    engine.flush(group_id=conversation.sample_id)
    yield engine
    engine.close()


class ChromaServer:
    """A `chroma run` server on 127.0.0.1 that a test may stop and start again (same port, same data)."""

    def __init__(self, data: Path) -> None:
        self.chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
        if not Path(self.chroma).exists():
            pytest.skip("the `chroma` CLI (chromadb) is not installed")
        self.data = data
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.chroma, "run", "--path", str(self.data), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/heartbeat", timeout=2):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    pytest.fail("chroma server did not start")
                time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=20)
            self.process = None


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (`chroma run`) on 127.0.0.1, started once for the test session."""
    server = ChromaServer(tmp_path_factory.mktemp("chroma-server"))
    yield server.url
    server.stop()


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    """A Chroma server of this test alone, which it may stop and start."""
    server = ChromaServer(tmp_path / "chroma-server")
    yield server
    server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (Debian's binaries; as the `postgres` user when root)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = _free_port()
        # pytest's tmp folders are private to root: the cluster needs one its user owns.
        self.data = Path(tempfile.mkdtemp(prefix="evermem-pg-"))
        self._as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses root
            self._as_user = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.data, "postgres", "postgres")
        self._run("initdb", "-D", str(self.data / "db"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.start()

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as_user, str(self.bindir / tool), *args], check=True, capture_output=True)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data / "db"), "-o", options, "-l", str(self.data / "log"), "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data / "db"), "-m", "fast", "-w", "stop")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh empty database: its URL."""
        import psycopg

        name = f"t{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data, ignore_errors=True)


def _postgres_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return versions[-1].parent if versions else None


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL server on 127.0.0.1, started once for the test session (.ci/run installs it)."""
    bindir = _postgres_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it)")
    server = PostgresServer(bindir)
    yield server
    server.remove()


@pytest.fixture
def database_url(postgres: PostgresServer) -> str:
    """An empty database of the session's PostgreSQL server."""
    return postgres.new_database()
