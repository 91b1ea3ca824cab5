"""The base install stays lean: optional parts live behind extras and say which one they need."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

BLOCK_MATPLOTLIB = "import sys; sys.modules['matplotlib'] = None\n"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def _names(requirements: list[str]) -> set[str]:
    import re

    return {re.split(r"[<>=!\[ ;]", r, maxsplit=1)[0].lower() for r in requirements}


def test_matplotlib_is_an_extra_not_a_base_dependency() -> None:
    project = _project()
    assert "matplotlib" not in _names(project["dependencies"])
    extras = project["optional-dependencies"]
    assert "matplotlib" in _names(extras["inspector"])
    assert "matplotlib" in _names(extras["bench"])
    assert "inspector" in extras["all"][0] and "bench" in extras["all"][0]


def test_ci_installs_all_and_test_extras() -> None:
    assert 'pip install -q -e ".[all,test]"' in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def _run(code: str, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd, check=False, timeout=120
    )


def test_package_and_cli_import_without_matplotlib() -> None:
    code = BLOCK_MATPLOTLIB + (
        "import evermem_integrations, evermem_integrations.cli.app, evermem_integrations.inspector\n"
        "from evermem_integrations.inspector import Snapshot\n"
        "print('ok')"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_inspect_without_matplotlib_names_the_extra(sample_store: Path, tmp_path: Path) -> None:
    code = (
        BLOCK_MATPLOTLIB
        + "import sys\nfrom evermem_integrations.cli import app\napp(sys.argv[1:], prog_name='evermem')"
    )
    out = tmp_path / "report.html"
    result = _run(code, "inspect", "--group", "demo", "--path", str(sample_store), "--out", str(out))
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and "matplotlib" in lines[0]
    assert 'pip install "evermem-integrations[inspector]"' in lines[0]
    assert not out.exists()


def test_bench_plots_without_matplotlib_name_the_extra() -> None:
    code = BLOCK_MATPLOTLIB + (
        "from evermem_integrations.bench.report import _pyplot\n"
        "from evermem_integrations.errors import ConfigurationError\n"
        "try:\n    _pyplot()\nexcept ConfigurationError as exc:\n    print(exc)\n"
    )
    result = _run(code)
    assert 'pip install "evermem-integrations[bench]"' in result.stdout, result.stderr


def test_ci_checks_lint_format_and_types_before_the_tests() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    checks = ["ruff check .", "ruff format --check .", "mypy evermem_integrations"]
    positions = [lines.index(check) for check in checks]
    assert positions == sorted(positions) and positions[-1] < lines.index("python -m pytest -q")
    assert {"ruff", "mypy"} <= _names(_project()["optional-dependencies"]["test"])  # installed by .[all,test]


def test_demo_without_matplotlib_names_the_inspector_extra(tmp_path: Path) -> None:
    cli = "import sys\nfrom evermem_integrations.cli import app\napp(sys.argv[1:], prog_name='evermem')"
    result = _run(BLOCK_MATPLOTLIB + cli, "demo", "--path", str(tmp_path / "demo"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "evermem inspect --group demo" in result.stdout
    assert 'the inspector needs: pip install "evermem-integrations[inspector]"' in " ".join(result.stdout.split())
