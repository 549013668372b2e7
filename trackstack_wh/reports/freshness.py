"""Delivery freshness: how long events take to reach each destination, and what still waits.

Per destination, over the payload rows of events in a window that were sent (to one
mode and target), p50 / p95 / max of:

- ``event_to_send`` / ``event_to_delivery``: from the event's time to its first send and
  to its first delivered answer (a CRM row whose record's later row carried its state
  counts as delivered then): what the platform sees;
- ``lag_to_send`` / ``lag_to_delivery``: the same from when the event reached us, the
  later of its time and its landing (the sink's ``receivedAt``, else the file's ingest
  time): our own delay, with late-arriving and backfilled events told apart (rows no
  event drives, PostHog's ``identify`` kind, count as sent and delivered, but have no
  landing time: no lag, and no age while they wait);

plus ``pending``, the ready rows still waiting for a send or an answer (never attempted,
in flight, failed with a later run due) and the age of the oldest of them (from the
later of event and landing time). All times are in seconds. ``freshness_verdicts``
judges them, with what waits in the sink's landing directory, against ``[freshness]``.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl

from trackstack_wh.config.freshness import FreshnessThresholds
from trackstack_wh.db import query_frame
from trackstack_wh.payloads.inspect import existing_tables
from trackstack_wh.sink.segments import Backlog, backlog
from trackstack_wh.timewindow import TimeWindow, in_window, window_params

MEASURES = ("event_to_send", "event_to_delivery", "lag_to_send", "lag_to_delivery")
STATS = ("p50", "p95", "max")
LAG_COLUMN = "lag_to_delivery_p95_s"

FRESHNESS_SQL = """
with payload as ({payload_union}),
sends as (
    select destination, request_kind, event_id,
        min(sent_at) filter (request_id is not null) as first_sent_at,
        min(sent_at) filter (outcome in ('delivered', 'superseded')) as delivered_at,
        arg_max_null(outcome, attempt) as outcome,
        arg_max_null(retry_at, attempt) as retry_at
    from delivery_log
    where mode = $mode and target = $target and outcome <> 'dry_run'
    group by all
),
timed as (
    select p.destination, p.event_time,
        case when e.event_id is not null
            then greatest(p.event_time, coalesce(e.edge_received_at, e.received_at)) end
            as reached_at,
        s.first_sent_at, s.delivered_at,
        p.status = 'ready' and (s.outcome is null or s.outcome = 'retry_scheduled'
            or (s.outcome = 'failed' and s.retry_at is not null)) as pending
    from payload p
    left join events e using (event_id)
    left join sends s using (destination, request_kind, event_id)
    where (e.event_id is not null or p.request_kind = 'identify') and {window}
),
spans as (
    select destination, pending, reached_at,
        epoch(first_sent_at - event_time) as event_to_send,
        epoch(delivered_at - event_time) as event_to_delivery,
        epoch(first_sent_at - reached_at) as lag_to_send,
        epoch(delivered_at - reached_at) as lag_to_delivery
    from timed
),
stats as (
    select destination,
        count(event_to_send)::bigint as sent,
        count(event_to_delivery)::bigint as delivered,
        {quantiles},
        count(*) filter (pending)::bigint as pending,
        max(epoch(to_timestamp($as_of_s) - reached_at)) filter (pending) as oldest_pending_s
    from spans
    group by destination
)
select destination, sent, delivered, {columns}, pending, oldest_pending_s from stats
"""


def _sql(union: str) -> str:
    quantiles = ",\n        ".join(
        f"quantile_cont({m}, [0.5, 0.95]) as {m}_q, max({m}) as {m}_max_s" for m in MEASURES
    )
    columns = ", ".join(
        f"{m}_q[1] as {m}_p50_s, {m}_q[2] as {m}_p95_s, {m}_max_s" for m in MEASURES
    )
    return FRESHNESS_SQL.format(
        payload_union=union, window=in_window("p.event_time"), quantiles=quantiles, columns=columns
    )


def duration_columns() -> list[str]:
    """The p50 / p95 / max columns of every measure, in seconds."""
    return [f"{m}_{s}_s" for m in MEASURES for s in STATS]


def freshness(
    conn: duckdb.DuckDBPyConnection,
    *,
    window: TimeWindow | None = None,
    mode: str = "live",
    target: str = "live",
    as_of: dt.datetime | None = None,
) -> pl.DataFrame:
    """One row per destination with payloads (see the module docstring): ``sent``,
    ``delivered``, ``{measure}_{p50,p95,max}_s``, ``pending`` and ``oldest_pending_s``,
    for events in ``window`` (default all) sent in ``mode`` to ``target``; ``as_of``
    (default now) is the clock for the age of waiting rows."""
    tables = existing_tables(conn)
    schema = pl.Schema({"destination": pl.String, "mode": pl.String, "target": pl.String,
                        "sent": pl.Int64, "delivered": pl.Int64,
                        **dict.fromkeys(duration_columns(), pl.Float64),
                        "pending": pl.Int64, "oldest_pending_s": pl.Float64})  # fmt: skip
    if not tables:
        return pl.DataFrame(schema=schema)
    union = " union all ".join(
        f"select destination, request_kind, event_id, event_time, status from {t}"
        for t in tables.values()
    )
    now = as_of or dt.datetime.now(dt.UTC)
    params = {"mode": mode, "target": target, "as_of_s": now.timestamp(), **window_params(window)}
    found = query_frame(conn, _sql(union), params)
    every = pl.DataFrame({"destination": list(tables)}, schema={"destination": pl.String})
    return (
        every.join(found, on="destination", how="left")
        .with_columns(
            pl.lit(mode, pl.String).alias("mode"),
            pl.lit(target, pl.String).alias("target"),
            pl.col("sent", "delivered", "pending").fill_null(0),
        )
        .select(list(schema))
        .cast(schema)
        .sort("destination")
    )


@dataclass(frozen=True)
class FreshnessVerdict:
    """One destination judged: ``passed`` (status ``ok``) or not (``warn``), the figures
    it was judged on and one line saying why."""

    destination: str
    passed: bool
    warn_after_seconds: float
    figures: dict[str, float | int | str | None]
    explanation: str

    @property
    def status(self) -> str:
        return "ok" if self.passed else "warn"


def judge(
    frame: pl.DataFrame, thresholds: FreshnessThresholds, held: Backlog | None = None
) -> list[FreshnessVerdict]:
    """Each destination of a ``freshness`` frame against its limit: ``warn`` when the
    pipeline lag p95 to delivery, the oldest waiting ready row, or the oldest event
    held in the landing directory (``held``) is older."""
    held = held or Backlog()
    landing = {
        "landing_open_segments": held.open_segments,
        "landing_oldest_open_s": held.oldest_open_seconds,
        "landing_closed_segments": held.closed_segments,
        "landing_oldest_closed_s": held.oldest_closed_seconds,
    }
    verdicts = []
    for row in frame.iter_rows(named=True):
        destination = row["destination"]
        limit = thresholds.warn_after(destination).total_seconds()
        judged = {
            "pipeline lag p95 to delivery": row[LAG_COLUMN],
            "oldest ready row waiting": row["oldest_pending_s"],
            "oldest open landing segment": held.oldest_open_seconds,
            "oldest landing segment not ingested": held.oldest_closed_seconds,
        }
        over = {name: age for name, age in judged.items() if age is not None and age > limit}
        figures = {**row, **landing, "warn_after_s": limit}
        verdicts.append(
            FreshnessVerdict(
                destination, not over, limit, figures, _explain(destination, row, over, limit)
            )
        )
    return verdicts


def _explain(destination: str, row: dict[str, object], over: dict[str, float], limit: float) -> str:
    if over:
        ages = ", ".join(f"{name} {human_duration(age)}" for name, age in over.items())
        return f"{destination}: {ages}: over the {human_duration(limit)} limit"
    lag = row[LAG_COLUMN]
    delivered = (
        f"pipeline lag p95 to delivery {human_duration(lag)}"
        if isinstance(lag, float)
        else "nothing delivered"
    )
    return (
        f"{destination}: fresh: {delivered}, {row['pending']:,} ready row(s) waiting; "
        f"within the {human_duration(limit)} limit"
    )


def freshness_verdicts(
    conn: duckdb.DuckDBPyConnection,
    thresholds: FreshnessThresholds | None = None,
    *,
    window: TimeWindow | None = None,
    mode: str = "live",
    target: str = "live",
    landing: str | os.PathLike[str] | None = None,
    as_of: dt.datetime | None = None,
) -> list[FreshnessVerdict]:
    """Every destination with payloads judged ``ok`` or ``warn`` (see ``judge``) against
    ``thresholds`` (default: 60 min for ad platforms, 24 h for CRMs), counting what
    waits in the sink's ``landing`` directory when one is given."""
    now = as_of or dt.datetime.now(dt.UTC)
    frame = freshness(conn, window=window, mode=mode, target=target, as_of=now)
    held = backlog(Path(landing), as_of=now) if landing is not None else None
    return judge(frame, thresholds or FreshnessThresholds(), held)


def landing_table(held: Backlog) -> pl.DataFrame:
    """One row: the landing directory's open and closed-but-not-ingested segments."""
    return pl.DataFrame(
        [
            {
                "open_segments": held.open_segments,
                "oldest_open_s": held.oldest_open_seconds,
                "closed_segments": held.closed_segments,
                "closed_bytes": held.closed_bytes,
                "oldest_closed_s": held.oldest_closed_seconds,
            }
        ],
        schema={
            "open_segments": pl.Int64,
            "oldest_open_s": pl.Float64,
            "closed_segments": pl.Int64,
            "closed_bytes": pl.Int64,
            "oldest_closed_s": pl.Float64,
        },
    )


def human_duration(seconds: float | None) -> str:
    """``"45 s"``, ``"4 min"``, ``"2.1 h"``, ``"24 h"``, ``"3.5 d"`` (empty for None)."""
    if seconds is None:
        return ""
    sign, value = ("-" if seconds < 0 else ""), abs(seconds)
    if value < 60:
        return f"{sign}{value:.0f} s"
    if value < 2 * 3600:
        return f"{sign}{value / 60:.0f} min"
    hours = value < 48 * 3600
    number = f"{value / (3600 if hours else 86400):.1f}".removesuffix(".0")
    return f"{sign}{number} {'h' if hours else 'd'}"


TITLES = {
    "event_to_send": "event → send",
    "event_to_delivery": "event → delivery",
    "lag_to_send": "pipeline lag → send",
    "lag_to_delivery": "pipeline lag → delivery",
}
"""How the HTML and text reports head each measure."""


def display_freshness(frame: pl.DataFrame) -> pl.DataFrame:
    """A freshness table for reading: each measure as ``p50 / p95 / max`` in human units
    (a few rows, one per destination)."""
    rows = []
    for row in frame.iter_rows(named=True):
        shown: dict[str, object] = {key: row[key] for key in ("destination", "sent", "delivered")}
        for measure, title in TITLES.items():
            ages = [row[f"{measure}_{stat}_s"] for stat in STATS]
            shown[f"{title} (p50 / p95 / max)"] = (
                " / ".join(map(human_duration, ages)) if ages[0] is not None else ""
            )
        shown["waiting"] = row["pending"]
        shown["oldest waiting"] = human_duration(row["oldest_pending_s"])
        if "status" in row:
            shown["warn over"] = human_duration(row["warn_after_s"])
            shown["status"] = row["status"]
        rows.append(shown)
    return pl.DataFrame(rows) if rows else pl.DataFrame(schema={"destination": pl.String})


def display_landing(frame: pl.DataFrame) -> pl.DataFrame:
    """The landing table with its ages in human units."""
    return frame.with_columns(
        pl.col(c).map_elements(human_duration, return_dtype=pl.String)
        for c in ("oldest_open_s", "oldest_closed_s")
    ).rename({"oldest_open_s": "oldest open", "oldest_closed_s": "oldest closed"})
