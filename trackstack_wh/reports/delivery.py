"""The delivery report: per destination and day, rows delivered, rejected, failed and
skipped, with the reasons (built on ``reconcile``), and how fresh the deliveries are."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from trackstack_wh.config.freshness import FreshnessThresholds
from trackstack_wh.db import query_frame
from trackstack_wh.delivery.reconcile import BUCKETS, reconcile
from trackstack_wh.reports.base import ChartBuilder, Report
from trackstack_wh.reports.charts import HEIGHT, WIDTH, altair, chart_of, outcome_scale
from trackstack_wh.reports.freshness import (
    display_freshness,
    display_landing,
    freshness,
    judge,
    landing_table,
)
from trackstack_wh.sink.segments import backlog
from trackstack_wh.timewindow import TimeWindow

BY_TARGET_SQL = """
select destination, target, mode,
    count(*) filter (outcome = 'delivered')::bigint as delivered,
    count(*) filter (outcome = 'rejected')::bigint as rejected,
    count(*) filter (outcome = 'failed')::bigint as failed, count(*)::bigint as rows
from delivery_status
where outcome <> 'dry_run'
group by destination, target, mode
order by destination, target <> 'live', target, mode
"""
"""Latest outcomes per destination and target: live and test deliveries, labelled."""

WITH_WARNINGS_SQL = """
select s.destination, s.request_kind, s.event_id, e.event_name, e.ts as event_time,
    s.last_sent_at, s.quality_score, s.quality_warnings
from delivery_status s
join events e using (event_id)
where s.outcome = 'delivered' and len(s.quality_warnings) > 0
  and s.mode = $mode and s.target = $target
  and ($since is null or e.ts >= $since) and ($until is null or e.ts < $until)
order by s.destination, e.ts, s.event_id, s.request_kind
"""
"""Rows delivered with warnings: their event's quality when they were sent (seed 003)."""


def delivery_report(
    conn: duckdb.DuckDBPyConnection,
    *,
    window: TimeWindow | None = None,
    mode: str = "live",
    target: str = "live",
    thresholds: FreshnessThresholds | None = None,
    landing: str | os.PathLike[str] | None = None,
    as_of: dt.datetime | None = None,
    with_warnings: bool = False,
) -> DeliveryReport:
    """Outcomes of every payload row whose event falls in ``window`` (default all), as
    delivered to ``target``; ``by_target`` counts every target's deliveries apart.

    ``freshness``: per destination, event and pipeline lag to send and to delivery, the
    ready rows waiting, and ``ok`` / ``warn`` against ``thresholds`` (default 60 min for
    ad platforms, 24 h for CRMs); with ``landing`` (the sink's directory), ``landing``
    shows the events held there before ingest, and they count in the verdicts. ``as_of``
    (default now) is the clock for waiting ages. ``with_warnings``: the report leads with
    ``with_warnings``, the rows delivered with warnings (their event's quality score and
    warnings when sent), and ``warnings_delivered`` counts them per destination and
    warning."""
    rec = reconcile(
        conn, since=window.start if window else None, until=window.end if window else None,
        mode=mode, target=target,
    )  # fmt: skip
    summary = rec.summary
    for bucket in BUCKETS:
        if bucket not in summary.columns:
            summary = summary.with_columns(pl.lit(0, pl.Int64).alias(bucket))
    numbers = ["rows", *BUCKETS]
    by_day = (
        summary.group_by("day", "destination")
        .agg(pl.col(numbers).sum().cast(pl.Int64))
        .sort("day", "destination")
    )
    totals = (
        summary.group_by("destination")
        .agg(pl.col(numbers).sum().cast(pl.Int64))
        .sort("destination")
    )
    final = totals["delivered"] + totals["rejected"] + totals["failed"]
    totals = totals.with_columns(
        (pl.col("delivered") / pl.Series(final).replace(0, None)).round(4).alias("success_rate")
    )
    reasons = rec.reasons.rename({"bucket": "outcome"}).sort(
        ["destination", "rows"], descending=[False, True]
    )
    over_time = rec.reasons_by_day().rename({"bucket": "outcome"})
    by_target = conn.sql(BY_TARGET_SQL).pl()
    now = as_of or dt.datetime.now(dt.UTC)
    fresh = freshness(conn, window=window, mode=mode, target=target, as_of=now)
    held = backlog(Path(landing), as_of=now) if landing is not None else None
    verdicts = judge(fresh, thresholds or FreshnessThresholds(), held)
    fresh = fresh.with_columns(
        pl.Series("warn_after_s", [v.warn_after_seconds for v in verdicts], pl.Float64),
        pl.Series("status", [v.status for v in verdicts], pl.String),
    )
    tables = {"by_day": by_day, "totals": totals, "freshness": fresh, "reasons": reasons,
              "reasons_by_day": over_time, "by_target": by_target}  # fmt: skip
    if held is not None:
        tables["landing"] = landing_table(held)
    if with_warnings:
        tables = {**delivered_with_warnings(conn, window, mode, target), **tables}
    label = mode if target == "live" else f"{mode} -> {target}"
    stale = [f"Freshness: {v.explanation}" for v in verdicts if not v.passed]
    return DeliveryReport(tables, window, label, rec.problems, stale)


def delivered_with_warnings(
    conn: duckdb.DuckDBPyConnection, window: TimeWindow | None, mode: str, target: str
) -> dict[str, pl.DataFrame]:
    """``with_warnings`` (one row per delivered payload row that had warnings, listed
    as text so every format can show them) and ``warnings_delivered`` (rows per
    destination and warning)."""
    params = {"mode": mode, "target": target, "since": window.start if window else None,
              "until": window.end if window else None}  # fmt: skip
    rows = query_frame(conn, WITH_WARNINGS_SQL, params)
    counts = (
        rows.explode("quality_warnings")
        .group_by("destination", pl.col("quality_warnings").alias("warning"))
        .agg(pl.len().cast(pl.Int64).alias("rows"))
        .sort(["destination", "rows", "warning"], descending=[False, True, False])
    )
    listed = rows.with_columns(pl.col("quality_warnings").list.join(", "))
    return {"with_warnings": listed, "warnings_delivered": counts}


class DeliveryReport(Report):
    """``.df``: per day (of the event) and destination, rows per outcome; ``totals`` with
    the success rate over rows with a final answer; ``freshness`` per destination (times
    in seconds; HTML and text show them in minutes and hours); ``reasons`` for skips and
    failures, ``reasons_by_day``, ``by_target``: every target's deliveries, labelled (a
    demo's emulator pushes beside the live ones), and ``landing`` when a landing
    directory was given."""

    def __init__(
        self,
        tables: dict[str, pl.DataFrame],
        window: TimeWindow | None,
        mode: str,
        problems: list[str],
        stale: list[str] | None = None,
    ) -> None:
        scope = f"events {window}" if window else "all events"
        super().__init__(
            title=f"Delivery ({mode})",
            description=(
                f"Every payload row by outcome: delivered, rejected, failed (retries ran "
                f"out), skipped (ineligible, with a reason), duplicate, and rows not yet "
                f"sent; {scope}. Freshness: per destination, how long rows took from the "
                f"event, and from when it reached us (our own lag), to first send and to "
                f"delivery, and how long ready rows have waited."
            ),
            tables=tables,
            notes=(
                [f"Reconciliation problem: {p}" for p in problems]
                or ["Reconciliation: every routed event is accounted for."]
            )
            + (stale or []),
        )
        self.mode = mode

    def display_tables(self) -> dict[str, pl.DataFrame]:
        shown = dict(self.tables)
        if "freshness" in shown:
            shown["freshness"] = display_freshness(shown["freshness"])
        if "landing" in shown:
            shown["landing"] = display_landing(shown["landing"])
        return shown

    def chart_builders(self) -> Mapping[str, ChartBuilder]:
        return {"outcomes": self._outcomes_chart, "reasons": self._reasons_chart}

    def _outcomes_chart(self) -> Any:
        alt = altair()
        long = (
            self.tables["by_day"]
            .unpivot(
                index=["day", "destination"],
                on=list(BUCKETS),
                variable_name="outcome",
                value_name="count",
            )  # fmt: skip
            .filter(pl.col("count") > 0)
        )
        return (
            chart_of(long)
            .mark_bar()
            .encode(
                x=alt.X("day:T", title="event day"),
                y=alt.Y("sum(count):Q", title="payload rows"),
                color=alt.Color("outcome:N", scale=outcome_scale()),
                row=alt.Row("destination:N", title=None),
                tooltip=["day:T", "destination:N", "outcome:N", "sum(count):Q"],
            )
            .properties(width=WIDTH, height=HEIGHT // 3)
            .resolve_scale(y="independent")
            .properties(title="Outcomes per destination and day")
        )

    def _reasons_chart(self) -> Any:
        alt = altair()
        return (
            chart_of(self.tables["reasons"])
            .mark_bar()
            .encode(
                y=alt.Y("reason:N", sort="-x", title=None),
                x=alt.X("sum(rows):Q", title="rows"),
                color=alt.Color("outcome:N", scale=outcome_scale()),
                row=alt.Row("destination:N", title=None),
                tooltip=["destination:N", "outcome:N", "reason:N", "sum(rows):Q"],
            )
            .properties(width=WIDTH // 2)
            .resolve_scale(y="independent")
            .properties(title="Why rows were not delivered")
        )
