"""search, show, inspect, export/import, delete, scopes and demo against real stores."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from evermem_integrations import EverMem

GROUP = ("--group", "demo")


@pytest.fixture
def sample(sample_store: Path, tmp_path: Path) -> Path:
    """A private copy of the session's sample store (tests may write to it)."""
    target = tmp_path / "sample"
    shutil.copytree(sample_store, target)
    return target


def test_search_lists_ranked_items_and_the_context(invoke, sample_store: Path) -> None:
    result = invoke("search", "Where did Maya move to?", *GROUP, "--path", str(sample_store), "--at", "2025-09-29")
    assert result.exit_code == 0, result.output
    assert "hybrid" in result.output
    assert "context ·" in result.output
    assert "Denver" in result.output


def test_search_json_has_kind_score_time_and_sources(invoke, sample_store: Path) -> None:
    result = invoke(
        "search",
        "half marathon race",
        *GROUP,
        "--path",
        str(sample_store),
        "--json",
        "--method",
        "keyword",
        "--budget",
        "300",
        "-n",
        "5",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["method"] == "keyword"
    assert 0 < len(data["items"]) <= 5
    assert data["context_tokens"] <= 300
    first = data["items"][0]
    assert {"kind", "score", "timestamp", "source_message_ids"} <= set(first)
    assert re.fullmatch(r"m\d\d", first["source_message_ids"][0])  # the sample's own message ids
    assert "marathon" in " ".join(i["text"].lower() for i in data["items"])


def test_search_filters_by_subject(invoke, sample_store: Path) -> None:
    result = invoke(
        "search", "race", *GROUP, "--path", str(sample_store), "--json", "--subject", "Leo", "--kind", "fact"
    )
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)["items"]
    assert items and {i["subject"] for i in items} == {"Leo"}


def test_show_memcells_pages_and_filters_by_time(invoke, sample_store: Path) -> None:
    page = invoke("show", "memcells", *GROUP, "--path", str(sample_store), "--limit", "3", "--offset", "3", "--json")
    assert page.exit_code == 0, page.output
    data = json.loads(page.stdout)
    assert data["total"] == 7 and len(data["items"]) == 3
    with EverMem(path=sample_store) as mem:
        expected = [c.id for c in mem.get(kind="episode", group_id="demo", limit=100)][3:6]
    assert [c["id"] for c in data["items"]] == expected
    table = invoke("show", "memcells", *GROUP, "--path", str(sample_store), "--limit", "3")
    assert "1-3 of 7 memcells · next page: --offset 3" in table.output
    late = json.loads(
        invoke("show", "memcells", *GROUP, "--path", str(sample_store), "--after", "2025-09-24", "--json").stdout
    )
    assert late["total"] == 3
    assert all(c["start_time"] >= "2025-09-24" for c in late["items"])


def test_show_scene_filter_and_scenes_table(invoke, sample_store: Path) -> None:
    with EverMem(path=sample_store) as mem:
        scenes = mem.get(kind="scene", group_id="demo", limit=100)
    table = invoke("show", "scenes", *GROUP, "--path", str(sample_store))
    assert table.exit_code == 0, table.output
    for scene in scenes:
        assert scene.title in table.output
    chosen = scenes[0]
    members = json.loads(
        invoke("show", "memcells", *GROUP, "--path", str(sample_store), "--scene", chosen.id, "--json").stdout
    )
    assert sorted(c["id"] for c in members["items"]) == sorted(chosen.cell_ids)
    plans = json.loads(
        invoke("show", "foresight", *GROUP, "--path", str(sample_store), "--scene", chosen.id, "--json").stdout
    )
    assert all(f["cell_id"] in chosen.cell_ids for f in plans["items"])
    unknown = invoke("show", "memcells", *GROUP, "--path", str(sample_store), "--scene", "scene_nope")
    assert unknown.exit_code == 2 and "no scene 'scene_nope'" in unknown.output


def test_show_profile_splits_traits_and_states_and_keeps_history(invoke, sample_store: Path) -> None:
    now = invoke("show", "profile", *GROUP, "--path", str(sample_store), "--at", "2025-09-29", "--subject", "Maya")
    assert now.exit_code == 0, now.output
    assert "traits (stable)" in now.output and "states (temporary)" in now.output
    assert "residence: Denver" in now.output
    assert "exhausted" in now.output  # a state still valid on 29 Sep
    assert "Portland" not in now.output
    history = invoke("show", "profile", *GROUP, "--path", str(sample_store), "--at", "2025-09-29", "--history")
    assert "residence: Portland" in history.output  # the superseded value, shown as history
    later = invoke("show", "profile", *GROUP, "--path", str(sample_store), "--at", "2025-12-01", "--subject", "Maya")
    assert "exhausted" not in later.output  # states expire, traits stay
    assert "residence: Denver" in later.output


def test_show_foresight_and_facts(invoke, sample_store: Path) -> None:
    plans = invoke("show", "foresight", *GROUP, "--path", str(sample_store), "--at", "2025-09-29", "--subject", "Leo")
    assert plans.exit_code == 0, plans.output
    assert "Thanksgiving" in plans.output and "active" in plans.output
    facts = json.loads(invoke("show", "facts", *GROUP, "--path", str(sample_store), "--limit", "500", "--json").stdout)
    moved = [f for f in facts["items"] if "moved to Denver" in f["text"]]
    assert moved and moved[0]["source_message_ids"]


def test_inspect_writes_a_self_contained_report_and_png(invoke, sample_store: Path, tmp_path: Path) -> None:
    out, png = tmp_path / "report.html", tmp_path / "timeline.png"
    result = invoke(
        "inspect", *GROUP, "--path", str(sample_store), "--out", str(out), "--png", str(png), "--at", "2025-09-29T20:00"
    )
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    with EverMem(path=sample_store) as mem:
        scenes = mem.get(kind="scene", group_id="demo", limit=100)
        cells = mem.get(kind="episode", group_id="demo", limit=100)
    for scene in scenes:
        assert f'id="{scene.id}"' in page
    for cell in cells:
        assert f'id="{cell.id}"' in page and f'id="cell-{cell.id}"' in page  # card and timeline bar
    assert "<svg" in page and "Traits · stable" in page and "States · temporary" in page
    assert "Thanksgiving" in page and "Earlier values" in page
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", page)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_export_import_round_trip_into_another_store(invoke, sample_store: Path, tmp_path: Path) -> None:
    dump = tmp_path / "demo.json"
    exported = invoke("export", *GROUP, "--path", str(sample_store), "--out", str(dump))
    assert exported.exit_code == 0, exported.output
    data = json.loads(dump.read_text())
    assert data["format"] == "evermem-export/2" and len(data["messages"]) == 57
    other = tmp_path / "other-store"
    imported = invoke("import", str(dump), "--path", str(other))
    assert imported.exit_code == 0, imported.output
    assert "57 new messages" in imported.output
    with EverMem(path=sample_store) as source, EverMem(path=other) as target:
        # Written as stored, scenes included (the sample store was cut with the demo's settings).
        assert target.stats(group_id="demo") == source.stats(group_id="demo")
        assert [c.title for c in target.get(kind="episode", group_id="demo")] == [
            c.title for c in source.get(kind="episode", group_id="demo")
        ]
    again = invoke("import", str(dump), "--path", str(other))
    assert "0 new messages, 57 already stored" in again.output
    renamed = invoke("import", str(dump), "--path", str(other), "--user", "maya")
    assert renamed.exit_code == 0 and "imported into user=maya" in renamed.output
    found = invoke("search", "Mount Falcon", "--user", "maya", "--path", str(other), "--json")
    assert "Mount Falcon" in found.stdout


def test_export_to_stdout(invoke, sample_store: Path) -> None:
    result = invoke("export", *GROUP, "--path", str(sample_store))
    assert result.exit_code == 0
    assert json.loads(result.stdout)["scope"]["group_id"] == "demo"


def test_delete_asks_first(invoke, sample: Path) -> None:
    declined = invoke("delete", *GROUP, "--path", str(sample), input="n\n")
    assert declined.exit_code == 1 and "aborted" in declined.output
    assert "57 messages" in declined.output  # what would be deleted was shown
    with EverMem(path=sample) as mem:
        assert mem.stats(group_id="demo").messages == 57
    accepted = invoke("delete", *GROUP, "--path", str(sample), input="y\n")
    assert accepted.exit_code == 0 and "deleted 1 scope(s)" in accepted.output
    with EverMem(path=sample) as mem:
        assert mem.scopes() == []
        assert mem.search("Denver", group_id="demo").items == []


def test_delete_yes_and_nothing_to_delete(invoke, sample: Path) -> None:
    assert invoke("delete", *GROUP, "--path", str(sample), "--yes").exit_code == 0
    again = invoke("delete", *GROUP, "--path", str(sample), "--yes")
    assert again.exit_code == 0 and "nothing stored for group=demo" in again.output


def test_scopes_lists_what_is_stored(invoke, sample_store: Path) -> None:
    result = invoke("scopes", "--path", str(sample_store))
    assert result.exit_code == 0, result.output
    assert "group=demo" in result.output and "57" in result.output


def test_demo_runs_offline_and_shows_every_part(invoke, tmp_path: Path) -> None:
    result = invoke("demo", "--path", str(tmp_path / "demo"))
    assert result.exit_code == 0, result.output
    for part in (
        "1. MemCells",
        "2. MemScenes",
        "3. Profile",
        "traits (stable)",
        "4. Foresight",
        "5. Search",
        "context ·",
    ):
        assert part in result.output
    assert "residence: Denver" in result.output and "Thanksgiving" in result.output
    with EverMem(path=tmp_path / "demo") as mem:
        assert mem.stats(group_id="demo").memcells == 7
    assert "evermem inspect --group demo" in result.output  # the kept store is ready to explore


def test_demo_default_uses_a_temporary_folder(invoke, isolated: Path) -> None:
    result = invoke("demo")
    assert result.exit_code == 0, result.output
    assert not (isolated / ".evermem").exists()
    assert "evermem demo --path" in result.output


def test_a_long_query_is_shortened_in_the_heading(invoke, sample_store: Path) -> None:
    query = "Where did [bold]Maya[/bold] move to? " + "and then what " * 2_200  # 30 KB, within the query limit
    result = invoke("search", query, *GROUP, "--path", str(sample_store))
    assert result.exit_code == 0, result.output[-2000:]
    heading = next(line for line in result.output.splitlines() if "· hybrid" in line)
    assert heading.startswith("“Where did [bold]Maya[/bold] move to?") and "…" in heading  # shown, not markup
    assert len(heading.rstrip()) <= 100
    assert len(result.output.splitlines()) < 120  # the table and the context, not hundreds of lines of query


def test_a_96_kb_query_is_one_line_that_does_not_echo_it(invoke, sample_store: Path) -> None:
    query = "Where did Maya move to? " + "and then what " * 7_000
    assert len(query) > 96_000
    result = invoke("search", query, *GROUP, "--path", str(sample_store))
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and len(result.stderr) < 200, result.stderr[:300]
    assert "more than 32,000" in result.stderr


@pytest.fixture
def two_id_scope(tmp_path: Path) -> Path:
    """A store with one scope made of a user id and a group id."""
    path = tmp_path / "two-ids"
    with EverMem(path=path) as mem:
        mem.add(
            [{"sender": "me", "content": "I keep bees on the roof.", "timestamp": "2025-01-02T10:00:00Z"}],
            user_id="me",
            group_id="g",
        )
    return path


def test_a_scope_of_two_ids_reads_as_one_scope(invoke, two_id_scope: Path) -> None:
    listing = invoke("scopes", "--path", str(two_id_scope))
    assert listing.exit_code == 0, listing.output
    assert "user=me + group=g" in listing.output and "group=g, user=me" not in listing.output
    missing = invoke("search", "bees", "--user", "me", "--path", str(two_id_scope))
    assert missing.exit_code == 2
    assert "no memories for user=me in" in missing.stderr and "stored scopes: user=me + group=g" in missing.stderr
    found = invoke("export", "--user", "me", "--group", "g", "--path", str(two_id_scope), "--out", "x.json")
    assert found.exit_code == 0, found.output
    assert "of user=me + group=g to x.json" in found.output
    deleted = invoke("delete", "--group", "g", "--path", str(two_id_scope), "--yes")
    assert "  user=me + group=g: 1 messages" in deleted.output


def test_scope_labels_quote_ids_that_would_read_as_syntax() -> None:
    from evermem_integrations.inspector.snapshot import scope_label

    assert scope_label({"group_id": "g", "user_id": "me"}) == "user=me + group=g"
    assert scope_label({"agent_id": "bot", "user_id": "me"}) == "user=me + agent=bot"
    assert scope_label({"user_id": "a + group=b"}) == 'user="a + group=b"'
    assert scope_label({"user_id": "x" * 300}).endswith("…") and len(scope_label({"user_id": "x" * 300})) < 90
