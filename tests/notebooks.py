"""Shared helpers for the tests that execute the cookbook notebooks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat


def write_kernelspec(jupyter_dir: Path, name: str) -> None:
    """A kernelspec named ``name`` that runs this venv's Python (put ``jupyter_dir`` on JUPYTER_PATH).

    CI machines have no user kernelspec; this one needs nothing but the running interpreter.
    """
    spec_dir = jupyter_dir / "kernels" / name
    spec_dir.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec_dir / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": name, "language": "python"}))


def outputs(nb: nbformat.NotebookNode) -> str:
    """All text a notebook printed or displayed, in order."""
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", "") or "".join(out.get("data", {}).get("text/plain", "")))
    return "\n".join(texts)
