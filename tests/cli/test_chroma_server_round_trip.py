"""export from an embedded store, import into a store whose vectors live in a `chroma run` server, and back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from tests.engine.write_path_support import unit_ids, vector_ids

pytestmark = pytest.mark.integration


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
        assert mem.stats(group_id="demo") == source.stats(group_id="demo")
        # A small scope is searched exactly beside its records; every unit has its vector.
        assert vector_ids(mem, "group=demo") == unit_ids(server_side, "group=demo")
