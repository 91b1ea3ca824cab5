"""Filters on metadata and built-in fields: the language, its translations and searches on a real chat."""

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from evermem_integrations import EverMem, InvalidFilterError
from evermem_integrations.engine import filters
from evermem_integrations.engine.records import SCHEMA_VERSION
from tests import filtered_chat
from tests.engine.layouts import as_layout_12
from tests.engine.write_path_support import whole_unit_records


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EverMem]:
    with EverMem(path=tmp_path_factory.mktemp("filters")) as mem:
        mem.add(filtered_chat.messages(), user_id="maya")
        mem.flush(user_id="maya")
        # Another tenant with the same metadata: no filter may reach it.
        mem.add([{**m, "id": f"x{m['id']}"} for m in filtered_chat.messages()[:9]], user_id="other")
        mem.flush(user_id="other")
        yield mem


@pytest.fixture(scope="module")
def indexed_chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EverMem]:
    """The same chat with its vectors in Chroma (as a scope past the exact-search limit keeps them)."""
    with EverMem(path=tmp_path_factory.mktemp("indexed"), exact_search_vectors=0) as mem:
        mem.add(filtered_chat.messages(), user_id="maya")
        mem.flush(user_id="maya")
        yield mem


def sources(items: Any) -> set[str]:
    return {i for item in items for i in item.source_message_ids}


@pytest.mark.parametrize(
    ("bad", "fix"),
    [
        ({"channel": {"$regex": "sl"}}, "use one of $eq"),
        ({"$not": {"channel": "slack"}}, "combine filters with $and or $or"),
        ({"n": {"$gt": "3"}}, "takes a number"),
        ({"channel": {"$in": "slack"}}, "non-empty list"),
        ({"chan nel": "slack"}, "letters, digits"),
        ({"channel": None}, "$ne"),
        ({"channel": {"a": 1}}, "unknown filter operator"),
        ({"kind": "memo"}, "use one of episode"),
        ({"subject": {"$gt": "A"}}, "which is text"),
        ({"timestamp": {"$gte": "no date at all"}}, "timestamp"),
        ({"$or": []}, "non-empty list of filters"),
        ({"$and": [{"$or": [{"$and": [{"$or": [{"$and": [{"$or": [{"$and": [{"x": 1}]}]}]}]}]}]}]}, "deeper"),
    ],
)
def test_an_invalid_filter_names_the_fix(chat: EverMem, bad: dict[str, Any], fix: str) -> None:
    with pytest.raises(InvalidFilterError, match=fix.replace("$", r"\$")):
        chat.search("Denver", user_id="maya", filters=bad)
    with pytest.raises(InvalidFilterError, match=fix.replace("$", r"\$")):
        chat.get(user_id="maya", kind="fact", filters=bad)


def test_facts_come_from_the_messages_the_filter_selects(chat: EverMem) -> None:
    every = chat.get(user_id="maya", kind="fact", limit=1000)
    for flt, test in [
        ({"channel": "slack"}, lambda m: m["channel"] == "slack"),
        ({"channel": {"$in": ["sms", "email"]}}, lambda m: m["channel"] in ("sms", "email")),
        (
            {"channel": {"$ne": "slack"}, "thread": "running"},
            lambda m: m["channel"] != "slack" and m["thread"] == "running",
        ),
        (
            {"$or": [{"thread": "knee"}, {"tags": {"$contains": "milestone"}}]},
            lambda m: m["thread"] == "knee" or "milestone" in m.get("tags", []),
        ),
        ({"n": {"$gte": 10, "$lt": 20}}, lambda m: 10 <= m["n"] < 20),
        ({"thread": {"$nin": ["job", "running"]}}, lambda m: m["thread"] not in ("job", "running")),
    ]:
        wanted = filtered_chat.ids_where(test)
        got = chat.get(user_id="maya", kind="fact", filters=flt, limit=1000)
        # Exactly the facts whose every source message passes (each fact comes from one message).
        assert {f.id for f in got} == {f.id for f in every if set(f.source_message_ids) <= wanted}, flt
        assert got


def test_a_memcell_of_two_channels_matches_either(chat: EverMem) -> None:
    cells = chat.get(user_id="maya", kind="episode", limit=100)
    mixed = [c for c in cells if {m.metadata["channel"] for m in c.messages} == {"sms", "email"}]
    assert mixed, "the 14 September episode mixes SMS and email"
    for channel in ("sms", "email"):
        assert {c.id for c in mixed} <= {
            c.id for c in chat.get(user_id="maya", filters={"channel": channel}, limit=100)
        }
    assert not {c.id for c in mixed} & {
        c.id for c in chat.get(user_id="maya", filters={"channel": {"$ne": "sms"}}, limit=100)
    }


@pytest.mark.parametrize("method", ["keyword", "vector", "hybrid", "scene"])
def test_a_filtered_search_returns_only_memories_that_pass(chat: EverMem, method: str) -> None:
    email = filtered_chat.ids_where(lambda m: m["channel"] == "email")
    result = chat.search(
        "What is Leo's goal for the half marathon?",
        user_id="maya",
        method=method,
        filters={"channel": "email"},
        token_budget=300,
    )
    assert result.items and sources(result.items) <= email
    assert any("under two hours" in item.text for item in result.items)
    assert all(item.source_metadata["channel"] == ["email"] for item in result.items)
    unfiltered = chat.search(
        "What is Leo's goal for the half marathon?", user_id="maya", method=method, token_budget=300
    )
    assert not sources(unfiltered.items) <= email  # the filter did something


def test_the_budget_goes_to_memories_that_pass(chat: EverMem) -> None:
    # Slack's Denver messages rank below SMS ones for a running question; a filter still fills the budget with them.
    slack = filtered_chat.ids_where(lambda m: m["channel"] == "slack")
    result = chat.search(
        "knee pain during the long run", user_id="maya", filters={"channel": "slack"}, token_budget=400
    )
    assert sources(result.items) <= slack
    assert result.context_tokens > 200


def test_built_in_fields_and_the_old_keys(chat: EverMem) -> None:
    leo = chat.search("running", user_id="maya", filters={"sender": "Leo", "kind": {"$in": ["fact", "profile"]}})
    assert (
        leo.items and {i.subject for i in leo.items} == {"Leo"} and {i.kind for i in leo.items} <= {"fact", "profile"}
    )
    after = chat.get(user_id="maya", kind="fact", filters={"after": "2025-09-20", "before": "2025-09-22"}, limit=100)
    assert after and all("2025-09-20" <= f.timestamp.isoformat() <= "2025-09-22" for f in after)
    same = chat.get(
        user_id="maya", kind="fact", filters={"timestamp": {"$gte": "2025-09-20", "$lte": "2025-09-22"}}, limit=100
    )
    assert [f.id for f in same] == [f.id for f in after]


def test_no_filter_reaches_another_tenant(chat: EverMem) -> None:
    widest = {"$or": [{"channel": "slack"}, {"channel": {"$ne": "slack"}}, {"kind": {"$ne": "raw"}}]}
    for method in ("keyword", "vector", "hybrid"):
        result = chat.search("job offer in Denver", user_id="other", filters=widest, method=method)
        assert result.items and all(i.startswith("xm") for i in sources(result.items))
    assert all(
        f.source_message_ids[0].startswith("xm")
        for f in chat.get(user_id="other", kind="fact", filters=widest, limit=500)
    )


FILTERS = [
    {"channel": "slack"},
    {"channel": {"$ne": "slack"}},
    {"tags": {"$contains": "work"}},
    {"n": {"$gt": 30}},
    {"n": {"$in": [3, 23, 40]}},
    {"n": {"$in": ["3"]}},
    {"$or": [{"thread": "knee"}, {"subject": "Maya", "channel": "slack"}]},
    {"kind": {"$nin": ["profile"]}, "thread": {"$nin": ["job"]}},
    {"timestamp": {"$lt": "2025-09-19"}, "channel": {"$in": ["email", "sms"]}},
]


@pytest.mark.parametrize("flt", FILTERS)
def test_sql_and_chroma_agree_with_the_predicate(chat: EverMem, indexed_chat: EverMem, flt: dict[str, Any]) -> None:

    parsed = filters.parse(flt)
    scope = "user=maya"
    terms = chat.records.lexical_terms("Denver run race apartment job knee coffee Pepper", scope)
    kinds = ["fact", "raw", "foresight", "profile"]
    everything = [u for u, _ in chat.records.bm25(scope, terms, kinds, 10_000)]
    units = chat.records.units(scope, everything)
    passing = {u for u in everything if filters.matches(parsed, units[u].filter_target)}
    assert {u for u, _ in chat.records.bm25(scope, terms, kinds, 10_000, parsed)} == passing
    # A small scope's exact search keeps the passing vectors, no more.
    vector = chat.embedder.embed(["Denver"])[0]
    all_vectors = {u for u, _ in chat.vectors.query(vector, scope, kinds, 10_000)}
    targets = chat.records.units(scope, sorted(all_vectors))
    assert {u for u, _ in chat.vectors.query(vector, scope, kinds, 10_000, parsed)} == {
        u for u in all_vectors if filters.matches(parsed, targets[u].filter_target)
    }
    # Chroma's where is a necessary condition: it keeps every passing vector.
    index = indexed_chat.vectors
    near = {u for u, _ in index.query(vector, scope, kinds, 10_000, parsed)}
    in_chroma = {u for u, _ in index.query(vector, scope, kinds, 10_000)}
    targets = indexed_chat.records.units(scope, sorted(in_chroma))
    assert {u for u in in_chroma if filters.matches(parsed, targets[u].filter_target)} <= near


def test_a_store_from_before_filters_is_migrated(tmp_path: Path) -> None:
    with EverMem(path=tmp_path, exact_search_vectors=0) as mem:  # version 3 kept every vector in Chroma
        mem.add(filtered_chat.messages()[:18], user_id="maya")
        mem.flush(user_id="maya")
    with sqlite3.connect(tmp_path / "evermem.sqlite3") as conn:  # the layout of version 3
        as_layout_12(conn)
        whole_unit_records(conn)
        conn.execute("ALTER TABLE units DROP COLUMN meta")
        conn.execute("ALTER TABLE units DROP COLUMN subject")
        conn.execute("ALTER TABLE units DROP COLUMN role")
        conn.execute("DROP TABLE vector_refresh")
        conn.execute("DROP TABLE exact_vectors")
        conn.execute("DROP TABLE exact_versions")
        conn.execute("DROP TABLE indexed_scopes")
        conn.execute("PRAGMA user_version = 3")
    email = filtered_chat.ids_where(lambda m: m["channel"] == "email")
    with EverMem(path=tmp_path) as mem:
        result = mem.search("half marathon goal", user_id="maya", method="vector", filters={"channel": "email"})
        assert result.items and sources(result.items) <= email
        vector = mem.embedder.embed(["half marathon goal"])[0]
        where = filters.parse({"channel": "email"})
        assert len(mem.vectors.query(vector, "user=maya", ["fact"], 100, where)) == len(
            mem.get(user_id="maya", kind="fact", filters={"channel": "email"}, limit=100)
        )
    with sqlite3.connect(tmp_path / "evermem.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("SELECT count(*) FROM vector_refresh").fetchone()[0] == 0


def test_split_subjects_takes_out_the_people_a_filter_requires() -> None:
    assert filters.split_subjects(filters.parse({"subject": "Ana"})) == (frozenset({"Ana"}), filters.MATCH_ALL)
    named, rest = filters.split_subjects(
        filters.parse({"$and": [{"subject": {"$in": ["Ana", "Bo"]}}, {"channel": "slack"}, {"sender": "Bo"}]})
    )
    assert named == frozenset({"Bo"}) and rest == filters.parse({"channel": "slack"})
    for kept in ({"$or": [{"subject": "Ana"}, {"channel": "slack"}]}, {"subject": {"$ne": "Ana"}}, {"kind": "fact"}):
        parsed = filters.parse(kept)
        assert filters.split_subjects(parsed) == (None, parsed)
