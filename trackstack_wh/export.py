"""Partition outputs as Hive-partitioned Parquet that other engines read.

``export_days`` writes, per UTC day of a window and per table, one file
``<root>/<table>/event_date=YYYY-MM-DD/data.parquet``: the day's events, their quality
rows and every payload table's rows. Files are streamed (bounded memory), written
beside their target and renamed into place, so a rerun replaces a day atomically and
readers never see half a file. Read them with DuckDB
``read_parquet('<root>/events/*/*.parquet', hive_partitioning = true)``, polars, Spark.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

from trackstack_wh.db import has_table
from trackstack_wh.errors import UsageError
from trackstack_wh.payloads.inspect import existing_tables
from trackstack_wh.timewindow import TimeWindow

PARTITION_COLUMN = "event_date"
BATCH_ROWS = 100_000

DAY_QUERIES = {
    "events": "select * exclude (event_date) from events where event_date = $day "
    "order by ts, event_id",
    "event_quality": "select q.* from event_quality q join events e using (event_id) "
    "where e.event_date = $day order by q.event_id",
}
PAYLOAD_QUERY = (
    "select * from {table} where event_time >= $day::timestamptz "
    "and event_time < $day::timestamptz + interval 1 day order by event_time, event_id"
)


@dataclass(frozen=True)
class ExportedFile:
    table: str
    day: dt.date
    path: Path
    rows: int


def _write(cursor: duckdb.DuckDBPyConnection, query: str, day: dt.date, path: Path) -> int:
    reader = cursor.sql(query, params={"day": day}).to_arrow_reader(BATCH_ROWS)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    rows = 0
    with pq.ParquetWriter(partial, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            rows += batch.num_rows
    os.replace(partial, path)
    return rows


def export_days(
    conn: duckdb.DuckDBPyConnection, root: str | os.PathLike[str], window: TimeWindow
) -> list[ExportedFile]:
    """Write every day of ``window`` (whole UTC days) for each exportable table."""
    if not window.check().whole_days():
        raise UsageError(f"exports cover whole UTC days, not {window}")
    queries = dict(DAY_QUERIES)
    if not has_table(conn, "event_quality"):
        del queries["event_quality"]
    for table in existing_tables(conn).values():
        queries[table] = PAYLOAD_QUERY.format(table=table)
    out = []
    cursor = conn.cursor()
    try:
        for day in window.dates():
            for table, query in queries.items():
                path = Path(root) / table / f"{PARTITION_COLUMN}={day.isoformat()}" / "data.parquet"
                out.append(ExportedFile(table, day, path, _write(cursor, query, day, path)))
    finally:
        cursor.close()
    return out
