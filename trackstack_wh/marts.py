"""Daily report tables, rebuilt one window of UTC days at a time (idempotently).

``funnel_daily`` and ``quality_daily`` come from ``sql/marts/``; ``reconciliation_daily``
from ``reconcile``. Each refresh deletes the window's days and inserts them again in one
transaction, so running it twice leaves the same rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb
import polars as pl

from trackstack_wh import sql
from trackstack_wh.db import query_frame, transaction
from trackstack_wh.delivery.reconcile import BUCKETS, Reconciliation, reconcile
from trackstack_wh.errors import UsageError
from trackstack_wh.timewindow import TimeWindow, window_params

SQL_MARTS = ("funnel_daily", "quality_daily")
RECONCILIATION_COLUMNS = ("rows", *BUCKETS, "not_built")


@dataclass(frozen=True)
class MartRefresh:
    """What one refresh wrote: the table, its rows for the window, and those rows."""

    table: str
    window: TimeWindow
    rows: int
    frame: pl.DataFrame


def _replace_days(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    window: TimeWindow,
    insert: str,
    params: Mapping[str, object],
) -> None:
    if not window.check().whole_days():
        raise UsageError(f"daily tables are rebuilt by whole UTC days, not {window}")
    with transaction(conn):
        conn.execute(
            f"delete from {table} where day >= $first and day <= $last",
            {"first": window.dates()[0], "last": window.dates()[-1]},
        )
        conn.execute(insert, params)


def _read_back(conn: duckdb.DuckDBPyConnection, table: str, window: TimeWindow) -> pl.DataFrame:
    return query_frame(
        conn,
        f"select * from {table} where day >= $first and day <= $last order by all",
        {"first": window.dates()[0], "last": window.dates()[-1]},
    )


def refresh_mart(conn: duckdb.DuckDBPyConnection, name: str, window: TimeWindow) -> MartRefresh:
    """Rebuild ``funnel_daily`` or ``quality_daily`` for the window's days."""
    if name not in SQL_MARTS:
        raise UsageError(f"unknown mart {name!r}; choose from {SQL_MARTS}")
    insert = f"insert into {name} by name {sql.load(f'marts/{name}')}"
    _replace_days(conn, name, window, insert, window_params(window))
    frame = _read_back(conn, name, window)
    return MartRefresh(name, window, frame.height, frame)


def refresh_reconciliation(
    conn: duckdb.DuckDBPyConnection,
    window: TimeWindow,
    *,
    mode: str = "live",
    target: str = "live",
) -> tuple[MartRefresh, Reconciliation]:
    """Reconcile the window (deliveries to ``target``) and store its counts per day and
    destination."""
    rec = reconcile(conn, since=window.start, until=window.end, mode=mode, target=target)
    summary = rec.summary
    for column in RECONCILIATION_COLUMNS:
        if column not in summary.columns:
            summary = summary.with_columns(pl.lit(0, pl.Int64).alias(column))
    per_day = (
        summary.group_by("day", "destination")
        .agg(pl.col(c).sum().cast(pl.Int64) for c in RECONCILIATION_COLUMNS)
        .sort("day", "destination")
    )
    conn.register("reconciliation_frame", per_day)
    try:
        _replace_days(
            conn,
            "reconciliation_daily",
            window,
            "insert into reconciliation_daily by name select * from reconciliation_frame",
            {},
        )
    finally:
        conn.unregister("reconciliation_frame")
    frame = _read_back(conn, "reconciliation_daily", window)
    return MartRefresh("reconciliation_daily", window, frame.height, frame), rec
