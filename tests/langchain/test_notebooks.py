"""Execute the LangChain cookbook notebooks top to bottom in this venv's Python.

Both run offline (the stand-in model); the agent notebook also runs against a local
OpenAI-compatible endpoint, to check its switch to a real model and what reached it.
"""

import asyncio
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import nbformat
import pytest
from nbclient import NotebookClient

from tests.notebooks import outputs, write_kernelspec

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ["langchain_agent_memory.ipynb", "langchain_lcel_retriever.ipynb"]
ONLINE = "langchain_agent_memory.ipynb"
KERNEL = "evermem-langchain-test"


class ChatCompletions(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible ``/chat/completions`` endpoint that records each request."""

    requests: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, **body})
        reply = {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> dict:
    """Both notebooks offline, and the agent one against the local endpoint, run concurrently.

    Each run gets a fresh kernel from a kernelspec written to a temporary JUPYTER_PATH entry
    that points at sys.executable, so nothing but this venv is needed (no user kernelspec).
    """
    jupyter = tmp_path_factory.mktemp("jupyter")
    write_kernelspec(jupyter, KERNEL)

    offline_env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    server = ThreadingHTTPServer(("127.0.0.1", 0), ChatCompletions)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    online_env = {
        **offline_env,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{server.server_port}/v1",
        "OPENAI_MODEL": "test-model",
    }
    notebooks = {name: nbformat.read(ROOT / "cookbook" / name, as_version=4) for name in NOTEBOOKS}
    notebooks["online"] = nbformat.read(ROOT / "cookbook" / ONLINE, as_version=4)
    where = {"metadata": {"path": str(ROOT / "cookbook")}}

    async def run_all() -> None:
        runs = [
            NotebookClient(nb, kernel_name=KERNEL, timeout=120, resources=where).async_execute(
                env=online_env if name == "online" else offline_env
            )
            for name, nb in notebooks.items()
        ]
        await asyncio.gather(*runs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(jupyter))
        try:
            asyncio.run(run_all())
        finally:
            server.shutdown()
    return notebooks


@pytest.mark.slow
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_offline(name, executed) -> None:
    text = outputs(executed[name])

    assert "model: MemoryEchoModel" in text
    if name == "langchain_agent_memory.ipynb":
        # a fact told in one thread is answered in another; Bob sees nothing of Alice's
        assert "[alice / friday] How old will my dog Rex be?\n  -> (from memory) alice: My dog Rex turns three" in text
        lisbon = "(from memory) alice: Hi! I'm vegetarian and I live in Lisbon."
        assert f"[alice / friday] Which city do I live in?\n  -> {lisbon}" in text
        assert "[bob / bob-1] How old will my dog Rex be?\n  -> I don't know that yet." in text
        assert text.rstrip().endswith("(from memory) memory: Alice is allergic to peanuts")  # a store item, recalled
    else:
        assert "sister Ana just moved to Porto" in text  # the retriever's top document
        assert "(from memory) alice: I started learning the cello" in text  # the RAG chain
        sardines = "(from memory) alice: My favourite food is grilled sardines."
        assert f"[alice] What is my favourite food?\n  -> {sardines}" in text
        assert "[bob] What is my favourite food?\n  -> I don't know that yet." in text


@pytest.mark.slow
@pytest.mark.integration
def test_agent_notebook_switches_to_an_openai_compatible_model(executed) -> None:
    text = outputs(executed["online"])
    assert "model: OpenAIClientChat" in text or "model: ChatOpenAI" in text
    calls = ChatCompletions.requests
    assert {c["path"] for c in calls} == {"/v1/chat/completions"}
    assert {c["model"] for c in calls} == {"test-model"}
    # the question asked in a new thread reached the real model with the memory from the first thread;
    # Bob's identical question (asked later) reached it without any of Alice's memories
    alice, bob = [c for c in calls if c["messages"][-1]["content"] == "How old will my dog Rex be?"]
    assert alice["messages"][0]["role"] == "system"
    assert "alice: My dog Rex turns three next month" in alice["messages"][0]["content"]
    assert bob["messages"][0]["content"] == "You are a helpful assistant."
