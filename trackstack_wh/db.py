"""DuckDB connections for the warehouse: path resolution, session settings, migrations."""

from __future__ import annotations

import contextlib
import os
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import polars as pl

from trackstack_wh import sql
from trackstack_wh.contract import CANONICAL_EVENTS, Route
from trackstack_wh.contract.currencies import CURRENCY_EXPONENTS
from trackstack_wh.errors import ConfigError, WarehouseBusyError

DEFAULT_DB = Path("data") / "warehouse.duckdb"
DB_ENV = "TRACKSTACK_DB"
MEMORY_LIMIT_ENV = "TRACKSTACK_MEMORY_LIMIT"
MEMORY_SIZE = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)")
LOCK_HOLDER = re.compile(r"Conflicting lock is held in .* \(PID (\d+)\)")
DEFAULT_BUSY_TIMEOUT = 30.0


def resolve_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The warehouse file: the argument, else $TRACKSTACK_DB, else data/warehouse.duckdb."""
    if path is not None:
        return Path(path)
    return Path(os.environ.get(DB_ENV) or DEFAULT_DB)


def connect(
    path: str | os.PathLike[str] | None = None,
    *,
    read_only: bool = False,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse (created and migrated unless read-only), in UTC.

    While another process holds the file, retries with backoff for up to
    ``busy_timeout`` seconds, then raises ``WarehouseBusyError`` naming the holder.
    """
    target = resolve_path(path)
    if not read_only:
        target.parent.mkdir(parents=True, exist_ok=True)
    conn = open_when_free(target, read_only=read_only, busy_timeout=busy_timeout)
    conn.execute("set timezone = 'UTC'")
    with contextlib.suppress(duckdb.InvalidInputException):
        # In Jupyter without ipywidgets DuckDB refuses to touch this setting (its bar
        # is then off anyway); elsewhere it would draw on the terminal mid-pipeline.
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
        # Under a cap, large INSERT ... SELECTs must not buffer rows to keep their order
        # (every query that needs an order says ORDER BY).
        conn.execute("set preserve_insertion_order = false")
    if not read_only:
        migrate(conn)
    return conn


def open_when_free(
    target: Path, *, read_only: bool, busy_timeout: float
) -> duckdb.DuckDBPyConnection:
    """``duckdb.connect``, retried while the file is locked by another process."""
    started = time.monotonic()
    delay = 0.05
    while True:
        try:
            return duckdb.connect(str(target), read_only=read_only)
        except duckdb.IOException as exc:
            holder = LOCK_HOLDER.search(str(exc))
            waited = time.monotonic() - started
            if holder is None:
                raise
            if waited + delay > busy_timeout:
                raise WarehouseBusyError(str(target), int(holder.group(1)), waited) from None
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 1.0)


def query_frame(conn: duckdb.DuckDBPyConnection, query: str, params: object = None) -> pl.DataFrame:
    """A query's result as a polars frame (``params`` bound, never formatted in)."""
    result: pl.DataFrame = conn.sql(query, params=params).pl()
    return result


def has_table(conn: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Whether the warehouse has a table called ``name``."""
    found = conn.execute(
        "select count(*) from duckdb_tables() where table_name = $n", {"n": name}
    ).fetchall()
    return bool(found[0][0])


def create_temp_table(conn: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> None:
    """A connection-local lookup table from a polars frame (kept if it already exists)."""
    conn.register(f"{name}_frame", frame)
    try:
        conn.execute(f"create temp table if not exists {name} as from {name}_frame")
    finally:
        conn.unregister(f"{name}_frame")


def create_currency_table(conn: duckdb.DuckDBPyConnection) -> None:
    """The temp table ``currency_exponents`` (code, exponent): ISO-4217 minor digits."""
    frame = pl.DataFrame(
        {"code": list(CURRENCY_EXPONENTS), "exponent": list(CURRENCY_EXPONENTS.values())},
        schema={"code": pl.String, "exponent": pl.Int32},
    )
    create_temp_table(conn, "currency_exponents", frame)


@contextlib.contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Run the block in one transaction: committed if it ends normally, else rolled back."""
    conn.execute("begin")
    try:
        yield
    except BaseException:
        conn.execute("rollback")
        raise
    conn.execute("commit")


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
    with transaction(conn):
        conn.execute("delete from canonical_events")
        conn.executemany("insert into canonical_events values (?, ?, ?, ?, ?, ?, ?)", rows)
