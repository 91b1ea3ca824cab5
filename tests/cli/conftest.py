"""Fixtures for the `evermem` CLI: an isolated environment, a runner, and a store holding the demo sample."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evermem_integrations.cli import app
from evermem_integrations.cli.demo import demo_memory, ingest_sample

CONFIG_VARS = (
    "EVERMEM_PATH",
    "EVERMEM_CHROMA_URL",
    "EVERMEM_DATABASE_URL",
    "EVERMEM_LLM_BASE_URL",
    "EVERMEM_LLM_MODEL",
    "EVERMEM_LLM_API_KEY",
    "OPENAI_API_KEY",
    "EVERMEM_EMBEDDER",
    "EVERMEM_CONFIG",
)


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No EVERMEM_* variable, config file or ./.evermem from the developer's machine leaks in."""
    for name in CONFIG_VARS:
        monkeypatch.delenv(name, raising=False)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps tables at 80 columns when not on a terminal
    return work


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def invoke(runner: CliRunner):
    """Run `evermem ARGS...` and return the click Result."""

    def run(*args: str, input: str | None = None):
        return runner.invoke(app, list(args), input=input)

    return run


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the bundled demo conversation (group 'demo'), built once as `evermem demo` builds it."""
    path = tmp_path_factory.mktemp("sample-store")
    with demo_memory(path) as mem:  # the default embedder and the demo's scene threshold
        ingest_sample(mem)
    return path


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    """A small OpenAI-style chat log over three days (user, assistant and a system prompt)."""
    days = [
        (
            "2025-03-01T09:00:00Z",
            [
                ("user", "I just moved to Lisbon for a new job at a design studio."),
                ("assistant", "Congratulations! How are you finding Lisbon so far?"),
                ("user", "I love the light here, and I'm really into the tiled facades."),
                ("assistant", "The azulejos are beautiful. Any plans for the weekend?"),
                ("user", "I'm going to visit Sintra next Saturday with my sister Ana."),
            ],
        ),
        (
            "2025-03-04T18:30:00Z",
            [
                ("user", "Work is intense, I'm exhausted after three late nights in a row."),
                ("assistant", "That sounds draining. Can you take a slower day soon?"),
                ("user", "Friday should be calmer. My favorite dish here is bacalhau a bras."),
            ],
        ),
        (
            "2025-03-08T20:00:00Z",
            [
                ("user", "Sintra was magical, Pena Palace looked like a painting."),
                ("assistant", "Glad you went! Did Ana enjoy it too?"),
                ("user", "She did. We're planning to hike the Seven Valleys trail in April."),
            ],
        ),
    ]
    from datetime import datetime, timedelta

    messages = [{"role": "system", "content": "You are a helpful travel companion."}]
    for start, turns in days:
        moment = datetime.fromisoformat(start.replace("Z", "+00:00"))
        for index, (role, content) in enumerate(turns):
            messages.append(
                {"role": role, "content": content, "timestamp": (moment + timedelta(minutes=index)).isoformat()}
            )
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(messages), encoding="utf-8")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """An empty store folder for one test."""
    return tmp_path / "store"
