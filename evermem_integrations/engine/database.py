"""How the PostgreSQL record store connects and waits (importable without psycopg)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DatabaseConfig(BaseModel):
    """Settings of the PostgreSQL record store (``EverMem(database_url=..., database=...)``).

    Each process opens at most ``pool_size`` connections, so a deployment needs PostgreSQL's
    ``max_connections`` above ``pool_size`` times the number of processes (plus the server's own).
    """

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    schema_name: str = Field(
        default="evermem",
        alias="schema",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="the PostgreSQL schema holding the tables; deployments sharing one database "
        "keep apart by using different schemas (lower-case letters, digits and underscores)",
    )
    pool_size: int = Field(
        default=8,
        ge=2,
        le=1000,
        description="connections per process (a search runs its lexical queries on parallel connections)",
    )
    connect_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="how long a call waits for the server, or for a free pooled connection, before it fails",
    )
    lock_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="how long a writer waits for another writer of its scope before it fails as busy",
    )
