"""Invariants of the warehouse, as data: what pipeline checks and tests assert.

- ``accounting_breaks``: batches whose records are not each in exactly one place
  (``rows_in = rows_valid + rows_quarantined + rows_duplicate``, and the stored rows
  match those counts).
- ``quarantine_rate``: the share of records quarantined.
- ``stored_event_failures``: stored events run through the ingest pandera schema again.
- ``delivery_outcomes``: a destination's latest outcome per payload row in a window, and
  the success rate over the rows that reached a final answer (age-limit refusals are
  skips, not failures).
- ``freshness`` / ``freshness_verdicts``: how long events take to reach each destination
  and how long ready rows wait, judged ``ok`` / ``warn`` against ``[freshness]``
  (computed in ``trackstack_wh.reports.freshness``, which the delivery report shows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from trackstack_wh.db import query_frame
from trackstack_wh.delivery.taxonomy import TOO_OLD
from trackstack_wh.payloads.inspect import existing_tables
from trackstack_wh.reports.freshness import FreshnessVerdict as FreshnessVerdict
from trackstack_wh.reports.freshness import freshness as freshness
from trackstack_wh.reports.freshness import freshness_verdicts as freshness_verdicts
from trackstack_wh.timewindow import TimeWindow, in_window, window_params
from trackstack_wh.validation import validate_events

CHUNK_ROWS = 100_000

ACCOUNTING_SQL = """
with chosen as (
    select * from ingest_batches
    where $batches is null or batch_id in (select unnest($batches::varchar[]))
),
stored as (
    select c.batch_id,
        (select count(*) from events e where e.batch_id = c.batch_id)
            + (select count(distinct i.line_no) from identities i where i.batch_id = c.batch_id)
            as events,
        (select count(*) from quarantine q where q.batch_id = c.batch_id) as quarantined,
        (select count(*) from duplicates d where d.batch_id = c.batch_id) as duplicates
    from chosen c
)
select c.batch_id, c.source_uri, c.rows_in, c.rows_valid, c.rows_quarantined,
    c.rows_duplicate, s.events, s.quarantined, s.duplicates
from chosen c join stored s using (batch_id)
where c.rows_in <> c.rows_valid + c.rows_quarantined + c.rows_duplicate
   or s.events <> c.rows_valid or s.quarantined <> c.rows_quarantined
   or s.duplicates <> c.rows_duplicate
order by c.ingested_at
"""


def accounting_breaks(
    conn: duckdb.DuckDBPyConnection, batch_ids: Sequence[str] | None = None
) -> pl.DataFrame:
    """Batches (all, or ``batch_ids``) whose accounting does not add up; empty when fine."""
    batches = list(batch_ids) if batch_ids is not None else None
    return query_frame(conn, ACCOUNTING_SQL, {"batches": batches})


@dataclass(frozen=True)
class QuarantineRate:
    rows_in: int
    quarantined: int

    @property
    def rate(self) -> float:
        return self.quarantined / self.rows_in if self.rows_in else 0.0


def quarantine_rate(
    conn: duckdb.DuckDBPyConnection, batch_ids: Sequence[str] | None = None
) -> QuarantineRate:
    """Records in and quarantined over the batches (all, or ``batch_ids``)."""
    rows_in, quarantined = conn.execute(
        "select coalesce(sum(rows_in), 0)::bigint, coalesce(sum(rows_quarantined), 0)::bigint "
        "from ingest_batches "
        "where $batches is null or batch_id in (select unnest($batches::varchar[]))",
        {"batches": list(batch_ids) if batch_ids is not None else None},
    ).fetchall()[0]
    return QuarantineRate(rows_in, quarantined)


def stored_event_failures(
    conn: duckdb.DuckDBPyConnection, batch_ids: Sequence[str] | None = None
) -> pl.DataFrame:
    """Stored events (all, or of ``batch_ids``) that the ingest schema would now refuse:
    ``event_id, batch_id, reasons``. Validated in chunks, so memory stays bounded."""
    cursor = conn.cursor()
    failures = []
    try:
        reader = cursor.sql(
            "select row_number() over ()::bigint as line_no, [][:0]::varchar[] as type_errors, "
            "* exclude (line_no) from events "
            "where $batches is null or batch_id in (select unnest($batches::varchar[]))",
            params={"batches": list(batch_ids) if batch_ids is not None else None},
        ).to_arrow_reader(CHUNK_ROWS)
        for batch in reader:
            frame = pl.from_arrow(batch)
            assert isinstance(frame, pl.DataFrame)
            frame = frame.with_columns(pl.col("ts", "received_at").dt.convert_time_zone("UTC"))
            bad = validate_events(frame)
            if bad.height:
                failures.append(
                    bad.join(frame.select("line_no", "event_id", "batch_id"), on="line_no")
                )
    finally:
        cursor.close()
    if not failures:
        return pl.DataFrame(
            schema={"event_id": pl.String, "batch_id": pl.String, "reasons": pl.List(pl.String)}
        )
    return pl.concat(failures).select("event_id", "batch_id", "reasons")


DELIVERY_SQL = f"""
select s.outcome, coalesce(s.error_class, '') as error_class, count(*)::bigint as rows
from delivery_status s
join {{table}} p using (destination, request_kind, event_id)
where s.destination = $destination and s.mode = $mode and s.target = $target
  and s.outcome <> 'dry_run' and {in_window("p.event_time")}
group by all
order by rows desc, outcome, error_class
"""


@dataclass(frozen=True)
class DeliveryOutcomes:
    """Latest outcome per sent row: ``counts`` by outcome and error class."""

    destination: str
    counts: pl.DataFrame

    def rows(self, outcome: str, *, error_class: str | None = None) -> int:
        chosen = self.counts.filter(pl.col("outcome") == outcome)
        if error_class is not None:
            chosen = chosen.filter(pl.col("error_class") == error_class)
        return int(chosen["rows"].sum())

    @property
    def too_old(self) -> int:
        return self.rows("rejected", error_class=TOO_OLD)

    @property
    def settled(self) -> int:
        """Rows with a final answer, age-limit refusals left out."""
        final = self.rows("delivered") + self.rows("rejected") + self.rows("failed")
        return final - self.too_old

    @property
    def success_rate(self) -> float | None:
        return self.rows("delivered") / self.settled if self.settled else None


def delivery_outcomes(
    conn: duckdb.DuckDBPyConnection,
    destination: str,
    *,
    mode: str = "live",
    target: str = "live",
    window: TimeWindow | None = None,
) -> DeliveryOutcomes:
    """Outcomes of ``destination``'s rows (events in ``window``) in ``mode``, as sent to
    ``target``."""
    table = existing_tables(conn).get(destination)
    if table is None:
        empty = pl.DataFrame(schema={"outcome": pl.String, "error_class": pl.String,
                                     "rows": pl.Int64})  # fmt: skip
        return DeliveryOutcomes(destination, empty)
    counts = conn.sql(
        DELIVERY_SQL.format(table=table),
        params={
            "destination": destination,
            "mode": mode,
            "target": target,
            **window_params(window),
        },  # fmt: skip
    ).pl()
    return DeliveryOutcomes(destination, counts)
