"""The README's Python blocks run as pasted, offline, so they cannot rot.

Each ```python block runs on its own, as a reader would paste it: in a fresh interpreter (no
names or Chroma clients carried over from another block) and a fresh temporary folder, with
connections limited to 127.0.0.1 as for every test. A block must be plain Python: an
``await`` outside a function does not run as pasted, so async code goes through
``asyncio.run``. Blocks that need an extra (LangChain, LlamaIndex) skip when it is missing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
ROOT = README.parent
# Run first in the block's interpreter: no connection leaves the machine (as pytest-socket does
# for in-process tests), and a store the block leaves open is closed.
GUARD = """
import ipaddress, socket, sys
_connect = socket.socket.connect
def _loopback_only(self, address):
    host = address[0] if isinstance(address, tuple) else None
    if host is not None and host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise OSError(f"the README test allows no connection to {host}")
    return _connect(self, address)
socket.socket.connect = _loopback_only
code = open(sys.argv[1], encoding="utf-8").read()
namespace = {"__name__": "__main__"}
try:
    exec(compile(code, sys.argv[2], "exec"), namespace)
finally:
    from evermem_integrations import EverMem
    for value in namespace.values():
        if isinstance(value, EverMem):
            value.close()
"""
EXTRAS = {"llama_index": "llama-index", "langchain": "langchain", "langgraph": "langchain"}


def python_blocks() -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 2, m.group(1)) for m in FENCE.finditer(text)]


BLOCKS = python_blocks()


def test_the_readme_has_its_python_blocks() -> None:
    assert len(BLOCKS) >= 3  # usage, LLM extraction, LlamaIndex: a broken fence must not empty the test


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs_as_pasted(line: int, code: str, tmp_path: Path) -> None:
    for module, extra in EXTRAS.items():
        if re.search(rf"^\s*(from|import) {module}\b", code, re.MULTILINE):
            pytest.importorskip(module, reason=f'the block needs pip install "evermem-integrations[{extra}]"')
    try:
        compile(code, f"README.md:{line}", "exec")  # a top-level await is a SyntaxError here
    except SyntaxError as exc:
        pytest.fail(f"README.md:{line} is not plain Python as pasted ({exc.msg} at block line {exc.lineno})")
    block = tmp_path / "block.py"
    block.write_text(code, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "OPENAI_API_KEY": "sk-readme-test-never-sent",  # LLMConfig reads it; no LLM is called
    }
    result = subprocess.run(
        [sys.executable, "-c", GUARD, str(block), f"README.md:{line}"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"README.md:{line} failed:\n{result.stderr[-3000:]}"
