"""`evermem search` and `evermem show` take --filter JSON."""

import json
from pathlib import Path

import pytest

from evermem_integrations import EverMem
from tests import filtered_chat


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("filtered-store")
    with EverMem(path=path) as mem:
        mem.add(filtered_chat.messages(), user_id="maya")
        mem.flush(user_id="maya")
    return path


def test_search_and_show_take_a_filter(invoke, store: Path) -> None:
    email = filtered_chat.ids_where(lambda m: m["channel"] == "email")
    found = invoke(
        "search",
        "half marathon goal",
        "--user",
        "maya",
        "--path",
        str(store),
        "--json",
        "--filter",
        '{"channel": "email"}',
    )
    assert found.exit_code == 0, found.output
    items = json.loads(found.stdout)["items"]
    assert items and {i for item in items for i in item["source_message_ids"]} <= email
    shown = invoke(
        "show",
        "facts",
        "--user",
        "maya",
        "--path",
        str(store),
        "--json",
        "--limit",
        "100",
        "--filter",
        '{"channel": "email", "n": {"$lt": 16}}',
    )
    assert shown.exit_code == 0, shown.output
    facts = json.loads(shown.stdout)["items"]
    assert facts and {i for f in facts for i in f["source_message_ids"]} <= {"m14", "m15"}
    cells = invoke(
        "show", "memcells", "--user", "maya", "--path", str(store), "--json", "--filter", '{"thread": "knee"}'
    )
    assert [c["start_time"][:10] for c in json.loads(cells.stdout)["items"]] == ["2025-09-21"]


def test_a_bad_filter_is_one_error_line(invoke, store: Path) -> None:
    for bad, fix in [
        ("{channel: slack}", "--filter is not JSON"),
        ('["slack"]', "JSON object"),
        ('{"channel": {"$regex": "s"}}', "use one of"),
    ]:
        result = invoke("search", "x", "--user", "maya", "--path", str(store), "--filter", bad)
        assert result.exit_code == 2 and fix in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1
