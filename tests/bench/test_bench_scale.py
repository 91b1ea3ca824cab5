"""The scale benchmark with tiny sizes (CI smoke; the real sizes are a command, not a test)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evermem_integrations import EverMem
from evermem_integrations.bench.cli import bench_app
from evermem_integrations.bench.floor import FloorIndex
from evermem_integrations.bench.scale import (
    FIRST,
    GROUP,
    SCOPE_KEY,
    _latencies,
    scope_units,
    synthetic_conversations,
    synthetic_memcells,
    synthetic_queries,
)
from evermem_integrations.engine.embeddings import StaticEmbedder
from evermem_integrations.errors import ConfigurationError


def test_synthetic_data_is_deterministic_and_extends() -> None:
    small = [m for batch in synthetic_conversations(50, per_conversation=20) for m in batch]
    large = [m for batch in synthetic_conversations(90, per_conversation=20) for m in batch]
    assert len(small) == 50
    assert len(large) == 90
    assert large[:40] == small[:40]  # whole conversations are identical whatever the total
    assert len({m["id"] for m in large}) == 90
    assert len({m["content"] for m in large}) > 45
    assert synthetic_queries(5, 3) == synthetic_queries(5, 3)


def test_searchers_timed_together_take_turns_at_every_question() -> None:
    calls: list[tuple[str, str]] = []
    ours = lambda question: calls.append(("ours", question))  # noqa: E731
    floor = lambda question: calls.append(("floor", question))  # noqa: E731
    timings = _latencies([ours, floor], ["q1", "q2", "q3"])
    assert [len(t) for t in timings] == [3, 3]
    # one untimed search each, then both at each question, the first to go alternating
    assert calls == [
        ("ours", "q1"),
        ("floor", "q1"),
        ("ours", "q1"),
        ("floor", "q1"),
        ("floor", "q2"),
        ("ours", "q2"),
        ("ours", "q3"),
        ("floor", "q3"),
    ]


def test_synthetic_memcells_hold_exactly_the_facts_asked_for() -> None:
    cells = list(synthetic_memcells(435))
    assert [len(c.facts) for c in cells] == [10] * 43 + [5]
    assert [c.model_dump() for c in synthetic_memcells(100)] == [c.model_dump() for c in cells[:10]]
    facts = [f for c in cells for f in c.facts]
    assert len({f.id for f in facts}) == 435
    assert len({c.id for c in cells}) == 44
    # conversation i is between the person synthetic_queries asks about and someone else
    assert cells[0].participants[0].startswith(FIRST[0]) and cells[20].participants[0].startswith(FIRST[1])
    for cell in cells:
        assert cell.title and cell.title in cell.episode
        assert [m.id for m in cell.messages] == [s for f in cell.facts for s in f.source_message_ids]
    assert all(f.subject in f.text for f in facts)  # each fact names who it is about, as extracted facts do
    assert {f.attribute for f in facts} == {None, "residence", "occupation"}


def test_scale_measures_search_and_ingestion_series(tmp_path: Path) -> None:
    store = tmp_path / "store"
    result = CliRunner().invoke(
        bench_app,
        [
            "scale",
            "--facts",
            "100,300",
            "--messages",
            "60,120",
            "--per-conversation",
            "30",
            "--batch-facts",
            "80",
            "--queries",
            "5",
            "--tenants",
            "3,6",
            "--per-tenant",
            "10",
            "--out",
            str(tmp_path / "out"),
            "--store",
            str(store),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "scale.json").read_text())
    first, second = report["search"]
    assert (first["facts"], second["facts"]) == (100, 300)
    assert (first["memcells"], second["memcells"]) == (10, 30)
    assert 0 < first["scenes"] <= second["scenes"]
    assert first["load_facts_per_s"] > 0 and second["load_facts_per_s"] > 0
    small, large = report["ingest"]
    assert (small["messages"], large["messages"]) == (60, 120)
    assert 0 < small["facts"] <= large["facts"]
    assert 0 < small["memcells"] <= large["memcells"]
    assert small["ingest_messages_per_s"] > 0 and large["ingest_messages_per_s"] > 0
    few, more = report["tenants"]
    assert (few["scopes"], more["scopes"], more["messages"]) == (3, 6, 60)
    assert more["disk_mb"] * 1_000_000 / 60 == pytest.approx(more["bytes_per_message"])
    for point in [few, more]:
        assert point["ingest_messages_per_s"] > 0 and point["files"] > 0
        assert 0 < point["search_p50_ms"] <= point["search_p95_ms"]
        assert 0 < point["reopen_first_search_s"] * 1000 > point["search_p50_ms"]  # the first search loads indexes
    for point in [first, second]:  # the floor, timed over the same units and queries
        assert 0 < point["floor_p50_ms"] <= point["floor_p95_ms"]
        assert point["floor_ratio"] == pytest.approx(point["search_p50_ms"] / point["floor_p50_ms"])
    assert "times the floor" in (tmp_path / "out" / "scale.md").read_text()
    for point in [first, second, small, large]:
        assert 0 < point["search_p50_ms"] <= point["search_p95_ms"]
        assert 50 < point["rss_mb"] <= point["peak_rss_mb"]
        assert point["disk_mb"] > 0
        assert 0 < point["seconds"] <= point["elapsed_s"]
    assert second["disk_mb"] > first["disk_mb"] and large["disk_mb"] >= small["disk_mb"]
    assert second["elapsed_s"] > first["elapsed_s"]
    assert "point took" in result.output
    for plot in ("scale_latency.png", "scale_ingest.png"):
        assert (tmp_path / "out" / plot).read_bytes()[:4] == b"\x89PNG"
    markdown = (tmp_path / "out" / "scale.md").read_text()
    assert "| 300 | 30 |" in markdown and "| 120 |" in markdown
    # the bulk-loaded store answers questions about the people the queries name
    with EverMem(path=store / "search") as mem:
        found = mem.search(f"What did {FIRST[0]} cook for friends?", group_id="scale")
    assert any(FIRST[0] in item.text for item in found.items)


def test_scale_needs_a_series(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        bench_app, ["scale", "--facts", "", "--messages", "", "--tenants", "", "--out", str(tmp_path)]
    )
    assert isinstance(result.exception, ConfigurationError)
    assert "--facts, --messages and/or --tenants" in str(result.exception)


def test_the_floor_ranks_the_scopes_units_and_packs_them_into_the_budget() -> None:
    with EverMem(path=None, embedder=StaticEmbedder()) as mem:
        cells = list(synthetic_memcells(200))
        mem.add_memcells(cells, group_id=GROUP)
        units = scope_units(mem, SCOPE_KEY)
        # what the engine searches: the facts and the messages as said
        assert {u.kind for u in units} == {"fact", "message"} and len([u for u in units if u.kind == "fact"]) == 200
        floor = FloorIndex(mem.embedder)
        floor.add(units)
        floor.add(units)  # units already indexed are not indexed twice
        assert len(floor.units) == len(units)
        target = cells[3].facts[2]
        items, context = floor.search(target.text, token_budget=120)
        assert items[0].id == target.id  # the sentence itself ranks first in both indexes
        assert target.text in context
        assert len(items) < 20  # 120 tokens hold a few lines, not the candidates


def test_the_many_tenants_series_can_name_its_tenants_by_uuid(tmp_path: Path) -> None:
    """Real user ids are often UUIDs: a scope key three times as long as ``user=tenant-0``."""
    result = CliRunner().invoke(
        bench_app,
        [
            "scale",
            "--facts",
            "",
            "--messages",
            "",
            "--tenants",
            "3",
            "--per-tenant",
            "10",
            "--queries",
            "4",
            "--tenant-ids",
            "uuid",
            "--out",
            str(tmp_path / "out"),
            "--store",
            str(tmp_path / "store"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "scale.json").read_text())
    assert report["tenant_ids"] == "uuid"
    [point] = report["tenants"]
    assert point["messages"] == 30 and 0 < point["search_p50_ms"] <= point["search_p95_ms"]
    with EverMem(path=tmp_path / "store" / "tenants") as mem:
        users = sorted(scope.user_id or "" for scope in mem.scopes())
        assert users == sorted(str(uuid.UUID(user)) for user in users) and len(users) == 3
        assert mem.search("What did they cook for friends?", user_id=users[0]).items
    refused = CliRunner().invoke(bench_app, ["scale", "--facts", "", "--messages", "", "--tenant-ids", "emails"])
    assert isinstance(refused.exception, ConfigurationError) and "numbered, uuid" in str(refused.exception)
