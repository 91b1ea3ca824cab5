"""The scale benchmark with a tiny size (CI smoke; the real sizes are a command, not a test)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from evermem_integrations.bench.cli import bench_app
from evermem_integrations.bench.scale import synthetic_conversations, synthetic_queries


def test_synthetic_data_is_deterministic_and_extends() -> None:
    small = [m for batch in synthetic_conversations(50, per_conversation=20) for m in batch]
    large = [m for batch in synthetic_conversations(90, per_conversation=20) for m in batch]
    assert len(small) == 50
    assert len(large) == 90
    assert large[:40] == small[:40]  # whole conversations are identical whatever the total
    assert len({m["id"] for m in large}) == 90
    assert len({m["content"] for m in large}) > 45
    assert synthetic_queries(5, 3) == synthetic_queries(5, 3)


def test_scale_grows_one_store_and_measures_each_size(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = CliRunner().invoke(
        bench_app,
        [
            "scale",
            "--sizes",
            "60,120",
            "--per-conversation",
            "30",
            "--queries",
            "5",
            "--out",
            str(tmp_path / "out"),
            "--store",
            str(store),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "scale.json").read_text())
    first, second = report["points"]
    assert (first["messages"], second["messages"]) == (60, 120)
    assert 0 < first["facts"] <= second["facts"]
    assert 0 < first["memcells"] <= second["memcells"]
    for point in report["points"]:
        assert point["ingest_messages_per_s"] > 0
        assert 0 < point["search_p50_ms"] <= point["search_p95_ms"]
        assert point["rss_mb"] > 50
        assert point["disk_mb"] > 0
        assert point["seconds"] > 0
    assert second["disk_mb"] >= first["disk_mb"]
    assert "point took" in result.output
    assert (tmp_path / "out" / "scale_latency.png").read_bytes()[:4] == b"\x89PNG"
    assert "| 120 |" in (tmp_path / "out" / "scale.md").read_text()
