"""The quality each row had when it was sent, written beside it in ``delivery_log``.

Seed 003: low-quality events may still deliver but appear with warnings in delivery
logs. When a destination's push starts, its candidate rows (those the push may send:
written since its cursor, or still open below it; `outbox.CANDIDATES`) are looked up
once in ``event_quality`` (score, warnings) and joined with the payload row's own
warnings (``property_truncated`` ...) into a table of this push, ``push_quality_<dest>``.
Every log row the push writes takes ``quality_score`` and ``quality_warnings`` from it
(`logwriter.LogWriter`). The lookup reads the candidates and the ``event_quality`` rows
of their ``event_seq`` range (the candidates' lowest and highest ``event_seq``, bound as
constants so the scan skips every row group outside it), never the whole warehouse; an
event not scored yet logs a NULL score and only its payload warnings.
"""

from __future__ import annotations

import duckdb

from trackstack_wh.db import has_table
from trackstack_wh.delivery.outbox import CANDIDATES

SNAPSHOT_COLUMNS = (
    "request_kind varchar, event_id varchar, quality_score double, quality_warnings varchar[]"
)

SCORED = """
select $kind as request_kind, p.event_id, any_value(q.score) as quality_score,
    list_sort(list_distinct(flatten(list(coalesce(q.warnings, []) || p.warnings))))
        as quality_warnings
from candidates p
left join (
    select event_seq, event_id, score, warnings from event_quality
    where event_seq between $seq_lo and $seq_hi
) q on q.event_seq = p.event_seq and q.event_id = p.event_id
group by p.event_id"""
SEQ_RANGE = "select min(event_seq), max(event_seq) from candidates"
"""The candidates' ``event_seq`` range, which bounds the ``event_quality`` scan."""
UNSCORED = """
select $kind as request_kind, p.event_id, null::double as quality_score,
    list_sort(list_distinct(flatten(list(p.warnings)))) as quality_warnings
from candidates p
group by p.event_id"""


def snapshot_table(destination: str) -> str:
    """Name of the table a destination's push keeps its rows' quality in."""
    return f"push_quality_{destination}"


def create_snapshot(conn: duckdb.DuckDBPyConnection, destination: str) -> None:
    """An empty snapshot table for the destination's push (a plain table: the log writer
    reads it on a cursor of its own)."""
    conn.execute(f"create or replace table {snapshot_table(destination)} ({SNAPSHOT_COLUMNS})")


def add_to_snapshot(
    conn: duckdb.DuckDBPyConnection, destination: str, table: str, params: dict[str, object]
) -> None:
    """The quality of the candidate rows of one request kind (``params``: those of
    `outbox.candidate_state_sql`) of payload ``table``."""
    candidates = f"with candidates as ({CANDIDATES.format(table=table)}) "
    if not has_table(conn, "event_quality"):
        conn.execute(f"insert into {snapshot_table(destination)} {candidates}{UNSCORED}", params)
        return
    found = conn.execute(candidates + SEQ_RANGE, params).fetchone()
    if found is None or found[0] is None:
        return  # no candidates: nothing to look up
    conn.execute(
        f"insert into {snapshot_table(destination)} {candidates}{SCORED}",
        {**params, "seq_lo": found[0], "seq_hi": found[1]},
    )


def drop_snapshot(conn: duckdb.DuckDBPyConnection, destination: str) -> None:
    conn.execute(f"drop table if exists {snapshot_table(destination)}")
