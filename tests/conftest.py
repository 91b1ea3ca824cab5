"""Shared fixtures: an in-memory engine, a persistent one, and the LoCoMo dev subset."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.datasets import LocomoConversation, load_locomo

REPO = Path(__file__).resolve().parents[1]
LOCOMO_PATH = REPO.parent / "shared" / "data" / "locomo" / "locomo-dev.json"


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
def locomo_mem(locomo: list[LocomoConversation], tmp_path_factory: pytest.TempPathFactory) -> Iterator[EverMem]:
    """One persistent engine holding the first LoCoMo conversation, ingested and flushed once."""
    engine = EverMem(path=tmp_path_factory.mktemp("locomo"))
    conversation = locomo[0]
    engine.add(conversation.messages, group_id=conversation.sample_id)
    engine.flush(group_id=conversation.sample_id)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Chroma server (`chroma run`) on 127.0.0.1, started once for the test session."""
    chroma = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    if not Path(chroma).exists():
        pytest.skip("the `chroma` CLI (chromadb) is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    data = tmp_path_factory.mktemp("chroma-server")
    process = subprocess.Popen(
        [chroma, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("chroma server did not start")
                time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
