"""Stores of earlier layouts, made from today's, for the migration tests."""

from __future__ import annotations

import sqlite3

from evermem_integrations.engine.records import _SCHEMA_STATEMENTS, SCOPED_TABLES, _schema_statement


def as_layout_12(conn: sqlite3.Connection) -> None:
    """Scopes as layouts up to 12 named them: every row holds its scope's key, there is no ``scopes`` table.

    The units keep their rowids, as the migration back does.
    """
    for table in SCOPED_TABLES:
        columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
        create = _schema_statement(f"TABLE IF NOT EXISTS {table} (").replace(f" {table} (", f" {table}_keyed (", 1)
        conn.execute(create.replace("scope INTEGER", "scope TEXT"))
        kept = ["rowid"] if table == "units" else []
        names = ", ".join([*kept, *columns])
        values = ", ".join([*(f"t.{c}" for c in kept), *("s.key" if c == "scope" else f"t.{c}" for c in columns)])
        conn.execute(
            f"INSERT INTO {table}_keyed ({names}) SELECT {values} FROM {table} AS t JOIN scopes AS s ON s.id = t.scope"
        )
        conn.execute(f"DROP TABLE {table}")
        conn.execute(f"ALTER TABLE {table}_keyed RENAME TO {table}")
    for statement in _SCHEMA_STATEMENTS:
        if statement.startswith("CREATE INDEX"):
            conn.execute(statement)
    conn.execute("DROP TABLE scopes")
    conn.execute("PRAGMA user_version = 12")
