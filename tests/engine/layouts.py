"""Stores of earlier layouts, made from today's, for the migration tests."""

from __future__ import annotations

import sqlite3

from evermem_integrations.engine.records import SCOPED_TABLES, _rebuild, _schema_statement

_TYPES_BEFORE_13 = {"scope INTEGER": "scope TEXT"}
_TYPES_BEFORE_14 = {"content_key INTEGER": "content_key TEXT"}


def _copy(
    conn: sqlite3.Connection, table: str, types: dict[str, str], values: dict[str, str], joined: str = ""
) -> None:
    """Replace ``table`` by a copy with some columns' ``types`` and ``values`` (of the row ``t``) as before.

    The units keep their rowids, as the migrations forward do.
    """
    create = _schema_statement(f"TABLE IF NOT EXISTS {table} (")
    for today, before in types.items():
        create = create.replace(today, before)
    _rebuild(conn, table, values, joined, create)


def as_layout_13(conn: sqlite3.Connection) -> None:
    """Records as layouts up to 13 held them: each whole in its ``data``, beside its columns and its unit.

    A message's content key was hex text; it becomes the hex of the 64 bits layout 14 keeps.
    """
    for table in ("facts", "foresight"):
        conn.execute(
            f"UPDATE {table} SET data = json_insert(data, '$.text', "
            f"(SELECT u.text FROM units AS u WHERE u.id = {table}.id AND u.scope = {table}.scope))"
        )
    conn.create_function("content_text", 1, lambda n: (n % 2**64).to_bytes(8, "big").hex(), deterministic=True)
    data = "json_insert(t.data, '$.id', t.id, '$.metadata', json('{}'))"
    _copy(conn, "messages", _TYPES_BEFORE_14, {"content_key": "content_text(t.content_key)", "data": data})
    conn.execute(
        "UPDATE cells SET data = json_insert(data, '$.id', id, '$.facts', json('[]'), '$.foresight', json('[]'), "
        "'$.messages', json('[]'))"
    )
    conn.execute("UPDATE cells SET data = json_insert(data, '$.scene_id', scene_id) WHERE scene_id IS NOT NULL")
    conn.execute("PRAGMA user_version = 13")


def as_layout_12(conn: sqlite3.Connection) -> None:
    """Scopes as layouts up to 12 named them: every row holds its scope's key, there is no ``scopes`` table."""
    as_layout_13(conn)
    for table in SCOPED_TABLES:
        _copy(
            conn,
            table,
            {**_TYPES_BEFORE_13, **_TYPES_BEFORE_14},
            {"scope": "s.key"},
            "JOIN scopes AS s ON s.id = t.scope",
        )
    conn.execute("DROP TABLE scopes")
    conn.execute("PRAGMA user_version = 12")
