"""Execute cookbook/llamaindex_chat_memory.ipynb top to bottom, offline, in this venv's Python."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.notebooks import outputs, write_kernelspec

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "cookbook" / "llamaindex_chat_memory.ipynb"
KERNEL = "evermem-llamaindex-test"


@pytest.fixture
def kernel_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A kernelspec pointing at sys.executable, found first (works where only the venv exists)."""
    write_kernelspec(tmp_path / "jupyter", KERNEL)
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    # Offline run: the notebook switches to a real model only when these are set.
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return KERNEL


@pytest.mark.slow
def test_notebook_runs_offline(kernel_name: str) -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, kernel_name=kernel_name, timeout=180, resources={"metadata": {"path": str(ROOT / "cookbook")}}
    ).execute()
    text = outputs(nb)

    assert "MockFunctionCallingLLM" in text  # the offline stand-in, not a real model
    lisbon = "(from memory) alice: Hi! I'm vegetarian and I live in Lisbon."
    # Session 1 told it; a new session (chat engine) recalls it; Bob's session recalls nothing.
    assert f"user: Where do I live?\n  -> {lisbon}" in text
    assert "user: Where do I live?\n  -> I don't know that yet." in text
    assert "(from memory) alice: My dog Rex turns three next month" in text  # the agent run
    assert re.search(r"\[ *(fact|message)\] ", text)  # retriever nodes with their kind ...
    assert "from ['li_" in text  # ... and source message ids
    assert "user: Am I vegetarian?\n  -> (from memory) alice, diet: vegetarian" in text  # the memory block: the profile
    assert text.rstrip().endswith("messages=0 buffered=0 memcells=0 facts=0 foresight=0 scenes=0 profile_items=0")
