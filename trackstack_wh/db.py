"""DuckDB connections for the warehouse: path resolution, session settings, migrations."""

from __future__ import annotations

import os
import re
from pathlib import Path

import duckdb
import polars as pl

from trackstack_wh import sql
from trackstack_wh.contract import CANONICAL_EVENTS, Route
from trackstack_wh.errors import ConfigError

DEFAULT_DB = Path("data") / "warehouse.duckdb"
DB_ENV = "TRACKSTACK_DB"
MEMORY_LIMIT_ENV = "TRACKSTACK_MEMORY_LIMIT"
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse file: the argument, else $TRACKSTACK_DB, else data/warehouse.duckdb."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def connect(
    path: str | os.PathLike[str] | None = None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (created and migrated unless read-only), in UTC."""
    target = resolve_path(path)
    if not read_only:
        target.parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect(str(target), read_only=read_only)
    conn.execute("set timezone = 'UTC'")
    conn.execute("set enable_progress_bar = false")
    memory_limit = os.environ.get(MEMORY_LIMIT_ENV)
    if memory_limit:
        # DuckDB caches pages up to 80% of RAM by default: RSS then grows with the data
        # read even though the work streams. A limit (e.g. 512MB) keeps it flat.
        if not MEMORY_SIZE.fullmatch(memory_limit):
            raise ConfigError(
                f"${MEMORY_LIMIT_ENV} = {memory_limit!r}; use a size like 512MB or 2GB"
            )
        conn.execute(f"set memory_limit = '{memory_limit}'")
    if not read_only:
        migrate(conn)
    return conn


def create_temp_table(conn: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """A connection-local lookup table from a polars frame (kept if it already exists)."""
    conn.register(f"{name}_frame", frame)
    try:
        conn.execute(f"create temp table if not exists {name} as from {name}_frame")
    finally:
        conn.unregister(f"{name}_frame")


def migrate(conn: duckdb.DuckDBPyConnection) -> None:
    """Apply every DDL file (idempotent) and refresh the canonical event catalogue."""
    for name in sql.ddl_files():
        conn.execute(sql.load(name))
    rows = [
        (
            e.name,
            e.stage.value,
            e.family.value,
            e.description,
            Route.ADS in e.default_routes,
            Route.CRM in e.default_routes,
            Route.WAREHOUSE in e.default_routes,
        )
        for e in CANONICAL_EVENTS
    ]
    conn.execute("begin")
    conn.execute("delete from canonical_events")
    conn.executemany("insert into canonical_events values (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.execute("commit")
