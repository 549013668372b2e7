"""Reading the quarantine: records narrowed by reason and file, and counts by both.

Filters are bound parameters (``$reason``, ``$file``), never formatted into the SQL. A
``reason`` matches any of a record's reasons, whole (``missing_required:currency``) or by
its code (``missing_required``); a ``file`` matches the source path, its last parts
(``bad.ndjson``, ``inbox/bad.ndjson``) or the batch ID.
"""

from __future__ import annotations

import duckdb
import polars as pl

from trackstack_wh.contract import QUARANTINE_REASONS
from trackstack_wh.db import query_frame

FILTER_SQL = """($reason is null
    or list_contains(q.reasons, $reason)
    or list_contains(list_transform(q.reasons, lambda r: split_part(r, ':', 1)), $reason))
and ($file is null or q.source_uri = $file or q.batch_id = $file
    or ends_with(q.source_uri, '/' || $file))"""
"""The records of ``quarantine q`` that ``$reason`` and ``$file`` (each NULL: any) select."""

LIST_SQL = f"""
select * from quarantine q
where {FILTER_SQL}
order by q.quarantined_at, q.batch_id, q.line_no
limit $n"""

SUMMARY_SQL = f"""
select q.reason, q.source_uri as file, count(*)::bigint as records,
    min(q.line_no) as first_line
from quarantine q
where {FILTER_SQL}
group by all
order by records desc, q.reason, file"""

COUNT_SQL = f"select count(*)::bigint as n from quarantine q where {FILTER_SQL}"

_FIXES = pl.DataFrame(
    {"code": [r.code for r in QUARANTINE_REASONS], "fix": [r.fix for r in QUARANTINE_REASONS]}
)


def filters(reason: str | None, file: str | None) -> dict[str, object]:
    """The parameters of `FILTER_SQL`."""
    return {"reason": reason, "file": file}


def quarantined(
    conn: duckdb.DuckDBPyConnection,
    *,
    reason: str | None = None,
    file: str | None = None,
    limit: int | None = None,
) -> pl.DataFrame:
    """Quarantined records (every column of ``quarantine``), in file order."""
    return query_frame(conn, LIST_SQL, {**filters(reason, file), "n": limit or 2**62})


def count_quarantined(
    conn: duckdb.DuckDBPyConnection, *, reason: str | None = None, file: str | None = None
) -> int:
    """How many quarantined records the filters select."""
    return int(query_frame(conn, COUNT_SQL, filters(reason, file)).item())


def quarantine_summary(
    conn: duckdb.DuckDBPyConnection, *, reason: str | None = None, file: str | None = None
) -> pl.DataFrame:
    """Records per first reason and file, most first, with the first line and the
    reason's fix (from the contract's catalogue)."""
    counts = query_frame(conn, SUMMARY_SQL, filters(reason, file))
    return (
        counts.with_columns(code=pl.col("reason").str.split(":").list.first())
        .join(_FIXES, on="code", how="left", maintain_order="left")
        .drop("code")
    )
