"""The delivery report: per destination and day, rows delivered, rejected, failed and
skipped, with the reasons (built on ``reconcile``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import polars as pl

from trackstack_wh.delivery.reconcile import BUCKETS, reconcile
from trackstack_wh.reports.base import ChartBuilder, Report
from trackstack_wh.reports.charts import HEIGHT, WIDTH, altair, chart_of, outcome_scale
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


def delivery_report(
    conn: duckdb.DuckDBPyConnection,
    *,
    window: TimeWindow | None = None,
    mode: str = "live",
    target: str = "live",
) -> DeliveryReport:
    """Outcomes of every payload row whose event falls in ``window`` (default all), as
    delivered to ``target``; ``by_target`` counts every target's deliveries apart."""
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
    tables = {"by_day": by_day, "totals": totals, "reasons": reasons,
              "reasons_by_day": over_time, "by_target": by_target}  # fmt: skip
    label = mode if target == "live" else f"{mode} -> {target}"
    return DeliveryReport(tables, window, label, rec.problems)


class DeliveryReport(Report):
    """``.df``: per day (of the event) and destination, rows per outcome; ``totals`` with
    the success rate over rows with a final answer; ``reasons`` for skips and failures,
    ``reasons_by_day``, and ``by_target``: every target's deliveries, labelled (a demo's
    emulator pushes beside the live ones)."""

    def __init__(
        self,
        tables: dict[str, pl.DataFrame],
        window: TimeWindow | None,
        mode: str,
        problems: list[str],
    ) -> None:
        scope = f"events {window}" if window else "all events"
        super().__init__(
            title=f"Delivery ({mode})",
            description=(
                f"Every payload row by outcome: delivered, rejected, failed (retries ran "
                f"out), skipped (ineligible, with a reason), duplicate, and rows not yet "
                f"sent; {scope}."
            ),
            tables=tables,
            notes=[f"Reconciliation problem: {p}" for p in problems]
            or ["Reconciliation: every routed event is accounted for."],
        )
        self.mode = mode

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
