"""The concurrency benchmark on an embedded store: clients at once, nothing lost, nothing left behind."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from evermem_integrations import EverMem
from evermem_integrations.bench.cli import bench_app
from evermem_integrations.bench.concurrency import run_concurrency


def test_threads_write_and_read_each_others_scopes_without_errors(tmp_path: Path) -> None:
    store = tmp_path / "store"
    report = run_concurrency(clients=3, scopes=6, per_scope=8, batch=4, path=store, keep=True)
    assert report.errors == {}
    assert report.messages == 6 * 8
    assert report.cross_found == report.cross_reads == 3 * 8
    assert report.search_p50_ms > 0 and report.add_p95_ms >= report.add_p50_ms
    with EverMem(path=store) as mem:
        stats = [mem.stats(user_id=s.user_id) for s in mem.scopes()]
    # Each scope written once, by its own client, and cut into MemCells: no duplicates, no loss.
    assert len(stats) == 6 and all(s.messages == 8 and s.buffered == 0 and s.memcells >= 1 for s in stats)


def test_the_command_reports_a_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        bench_app, ["concurrency", "--clients", "2", "--scopes", "4", "--per-scope", "4", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    table = (tmp_path / "concurrency.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| embedded (threads) |"))
    assert "| 0 | 16 / 16 |" in row  # no errors; 2 clients x 8 cross reads, all found
