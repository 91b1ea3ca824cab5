"""export from an embedded store, import into a store whose vectors live in a `chroma run` server, and back."""

from __future__ import annotations

import json
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

CHROMA = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not Path(CHROMA).exists(), reason="the `chroma` CLI (chromadb) is not installed"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    data = tmp_path_factory.mktemp("chroma-server")
    process = subprocess.Popen(
        [CHROMA, "run", "--path", str(data), "--host", "127.0.0.1", "--port", str(port)],
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


def test_embedded_to_server_and_back_loses_nothing(invoke, sample_store: Path, chroma_url: str, tmp_path: Path) -> None:
    dump = tmp_path / "demo.json"
    assert invoke("export", "--group", "demo", "--path", str(sample_store), "--out", str(dump)).exit_code == 0
    server_side = tmp_path / "server-index"  # holds only the SQLite side index; vectors go to the server
    result = invoke("import", str(dump), "--path", str(server_side), "--chroma-url", chroma_url)
    assert result.exit_code == 0, result.output
    found = invoke(
        "search",
        "Mount Falcon hike",
        "--group",
        "demo",
        "--path",
        str(server_side),
        "--chroma-url",
        chroma_url,
        "--json",
    )
    assert found.exit_code == 0, found.output
    assert any("Mount Falcon" in item["text"] for item in json.loads(found.stdout)["items"])
    back = tmp_path / "back.json"
    args = ("export", "--group", "demo", "--path", str(server_side), "--chroma-url", chroma_url, "--out", str(back))
    assert invoke(*args).exit_code == 0
    assert json.loads(back.read_text()) == json.loads(dump.read_text())
    with EverMem(path=server_side, chroma_url=chroma_url) as mem, EverMem(path=sample_store) as source:
        same = {
            "messages",
            "buffered",
            "memcells",
            "facts",
            "foresight",
            "profile_items",
        }  # scenes follow the target's config
        assert mem.stats(group_id="demo").model_dump(include=same) == source.stats(group_id="demo").model_dump(
            include=same
        )
        assert mem.vectors.collection.count() > 0  # the vectors really are in the server
