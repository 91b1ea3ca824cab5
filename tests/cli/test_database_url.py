"""`evermem --database-url`: the records on a real PostgreSQL, the vectors on a real `chroma run`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evermem_integrations.cli.config import resolve_settings

pytestmark = pytest.mark.integration


def test_import_search_and_scopes_on_the_server_pair(
    invoke, sample_store: Path, database_url: str, chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dump = tmp_path / "demo.json"
    assert invoke("export", "--group", "demo", "--path", str(sample_store), "--out", str(dump)).exit_code == 0
    result = invoke("--database-url", database_url, "--chroma-url", chroma_url, "import", str(dump))
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("EVERMEM_DATABASE_URL", database_url)  # the environment selects it too
    found = invoke("search", "Mount Falcon hike", "--group", "demo", "--chroma-url", chroma_url, "--json")
    assert found.exit_code == 0, found.output
    assert any("Mount Falcon" in item["text"] for item in json.loads(found.stdout)["items"])
    listed = invoke("scopes", "--chroma-url", chroma_url)
    assert listed.exit_code == 0, listed.output
    assert "group=demo" in listed.output or "demo" in listed.output
    assert not Path(".evermem").exists()  # nothing on local disk


def test_a_database_url_without_a_chroma_server_says_what_to_add(invoke, database_url: str) -> None:
    result = invoke("--database-url", database_url, "scopes")
    assert result.exit_code != 0
    assert "chroma_url" in result.output


def test_the_password_of_a_database_url_is_never_shown() -> None:
    settings = resolve_settings({}, env={"EVERMEM_DATABASE_URL": "postgresql://ana:s3cret@db:5432/mem"})
    assert settings.get("database_url") == "postgresql://ana:s3cret@db:5432/mem"
    assert settings.values["database_url"].shown() == "postgresql://ana:****@db:5432/mem"
    assert settings.values["database_url"].source == "env EVERMEM_DATABASE_URL"


def test_the_schema_and_pool_size_come_from_the_environment(
    invoke, sample_store: Path, database_url: str, chroma_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import psycopg

    dump = tmp_path / "demo.json"
    assert invoke("export", "--group", "demo", "--path", str(sample_store), "--out", str(dump)).exit_code == 0
    monkeypatch.setenv("EVERMEM_DATABASE_SCHEMA", "cli_team")
    monkeypatch.setenv("EVERMEM_DATABASE_POOL_SIZE", "3")
    result = invoke("--database-url", database_url, "--chroma-url", chroma_url, "import", str(dump))
    assert result.exit_code == 0, result.output
    with psycopg.connect(database_url) as conn:
        found = conn.execute("SELECT count(*) FROM cli_team.messages WHERE scope = 'group=demo'").fetchone()
    assert found and found[0] > 0
    monkeypatch.setenv("EVERMEM_DATABASE_POOL_SIZE", "lots")
    refused = invoke("--database-url", database_url, "--chroma-url", chroma_url, "scopes")
    assert refused.exit_code != 0
    assert "pool_size" in refused.output
