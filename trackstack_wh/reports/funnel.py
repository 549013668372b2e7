"""Funnel-stage reports: people, companies and events per stage and period, the ratio
of people at each stage to the previous stage in the same period (not a conversion
rate: see ``trackstack_wh.funnels`` for ordered conversion), time to sign-up and to
revenue, revenue net of refunds, and weekly sign-up cohorts.

The SQL lives in ``sql/reports/``: ``report_events`` gives each funnel event its person
(the ``event_people`` view: externalId, else the externalId its email carries elsewhere,
else the email, else its session's person) and ``report_people`` holds each person's
first touch, sign-up, first revenue, channel and plan; the other queries read those two
temp tables.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import polars as pl

from trackstack_wh import sql
from trackstack_wh.contract.events import FUNNEL_STAGES
from trackstack_wh.db import create_currency_table, query_frame
from trackstack_wh.errors import UsageError
from trackstack_wh.reports.base import ChartBuilder, Report
from trackstack_wh.reports.charts import HEIGHT, WIDTH, altair, chart_of
from trackstack_wh.timewindow import TimeWindow, window_params

PERIODS = ("day", "week", "month", "quarter", "year")
BREAKDOWNS = ("channel", "referrer", "plan")
STAGE_ORDER = [s.value for s in FUNNEL_STAGES]


CLICK_SOURCE_MARK = "/* click_source: sql/reports/click_source.sql */ null"
"""Where sql/reports/report_events.sql takes the click-source expression."""


def click_source_sql() -> str:
    """The ad platform of an event's click ID, as SQL over events ``e``
    (sql/reports/click_source.sql without its comments): one definition for the period
    report and the conversion funnels."""
    lines = sql.load("reports/click_source").splitlines()
    return "\n".join(line for line in lines if not line.startswith("--")).strip()


def report_events_sql() -> str:
    """sql/reports/report_events.sql with the click-source expression in its place."""
    return sql.load("reports/report_events").replace(CLICK_SOURCE_MARK, click_source_sql())


def funnel_report(
    conn: duckdb.DuckDBPyConnection,
    *,
    period: str = "week",
    by: str | None = None,
    window: TimeWindow | None = None,
    value_unit: str = "minor",
) -> FunnelReport:
    """Build every funnel table for events in ``window`` (default: all of them)."""
    if period not in PERIODS:
        raise UsageError(f"period={period!r}; choose from {PERIODS}")
    if by is not None and by not in BREAKDOWNS:
        raise UsageError(f"by={by!r}; choose from {BREAKDOWNS} or None")
    create_currency_table(conn)
    base = {**window_params(window), "value_unit": value_unit}
    conn.execute(
        f"create or replace temp table report_events as {report_events_sql()}",
        base,
    )
    conn.execute(
        f"create or replace temp table report_people as {sql.load('reports/report_people')}"
    )
    try:
        stages = _query(conn, "funnel", period=period, by=by, whole=False)
        totals = _query(conn, "funnel", period=period, by=by, whole=True).drop("period")
        tables = {
            "stages": stages,
            "totals": totals,
            "revenue": _query(conn, "revenue", period=period),
            "timing": _query(conn, "timing", period=period),
            "cohorts": _query(conn, "cohorts"),
        }
    finally:
        conn.execute("drop table if exists report_events")
        conn.execute("drop table if exists report_people")
    for name in ("stages", "totals"):
        tables[name] = (
            tables[name].drop("segment") if by is None else tables[name].rename({"segment": by})
        )
    return FunnelReport(period, by, window, tables)


def _query(conn: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pl.DataFrame:
    return query_frame(conn, sql.load(f"reports/{name}"), params or None)


class FunnelReport(Report):
    """``.df``: one row per period (and segment) and stage; also ``totals``, ``revenue``,
    ``timing`` and ``cohorts`` in ``.tables``; ``.chart()`` draws them."""

    def __init__(
        self,
        period: str,
        by: str | None,
        window: TimeWindow | None,
        tables: dict[str, pl.DataFrame],
    ) -> None:
        scope = f"events {window}" if window else "all events"
        split = f", by {by}" if by else ""
        super().__init__(
            title=f"Funnel by {period}{split}",
            description=(
                f"People (externalId or email, stitched across email and session), companies "
                f"and events reaching each stage per {period}; {scope}. The ratios compare "
                "people at a stage with people at the previous stage in the same period "
                "(different people, so they can exceed 1; wh.conversion_funnel() follows "
                "people in order). Revenue is in major currency units, net of refunds and "
                "chargebacks, per currency."
            ),
            tables=tables,
        )
        self.period = period
        self.by = by
        self.window = window

    def headline(self) -> dict[str, Any]:
        """Whole-window numbers: people per stage, sign-ups, revenue, losses."""
        totals = self.tables["totals"]
        if self.by is not None:
            totals = totals.group_by("stage_order", "stage").agg(pl.col("people").sum())
        people = dict(zip(totals["stage"], totals["people"], strict=True))
        timing = self.tables["timing"]
        revenue = (
            self.tables["revenue"]
            .filter(pl.col("currency") != "(none)")
            .group_by("currency")
            .agg(pl.col("gross_revenue", "refunded", "charged_back", "net_revenue").sum())
            .sort("currency")
        )
        return {
            "people": {s: int(people.get(s, 0)) for s in STAGE_ORDER},
            "signups": int(timing["signups"].sum()) if timing.height else 0,
            "net_revenue": {
                r["currency"]: round(r["net_revenue"], 2) for r in revenue.iter_rows(named=True)
            },
            "refunds": int(self.tables["revenue"]["refunds"].sum()),
            "chargebacks": int(self.tables["revenue"]["chargebacks"].sum()),
            "churned": int(self.tables["revenue"]["churned"].sum()),
        }

    def chart_builders(self) -> Mapping[str, ChartBuilder]:
        return {
            "stages": self._stages_chart,
            "trend": self._trend_chart,
            "revenue": self._revenue_chart,
            "cohorts": self._cohort_chart,
        }

    def _stages_chart(self) -> Any:
        alt = altair()
        color = alt.Color(f"{self.by}:N") if self.by else alt.value("#1565c0")
        return (
            chart_of(self.tables["totals"])
            .mark_bar()
            .encode(
                x=alt.X("stage:N", sort=STAGE_ORDER, title=None),
                y=alt.Y("sum(people):Q", title="people"),
                color=color,
                tooltip=["stage:N", "sum(people):Q", "sum(companies):Q", "sum(events):Q"],
            )
            .properties(title="People reaching each stage", width=WIDTH, height=HEIGHT)
        )

    def _trend_chart(self) -> Any:
        alt = altair()
        return (
            chart_of(self.tables["stages"])
            .mark_line(point=True)
            .encode(
                x=alt.X("period:T", title=self.period),
                y=alt.Y("sum(people):Q", title="people"),
                color=alt.Color("stage:N", sort=STAGE_ORDER),
                tooltip=["period:T", "stage:N", "sum(people):Q"],
            )
            .properties(title=f"People per stage by {self.period}", width=WIDTH, height=HEIGHT)
        )

    def _revenue_chart(self) -> Any:
        alt = altair()
        long = (
            self.tables["revenue"]
            .filter(pl.col("currency") != "(none)")
            .unpivot(
                index=["period", "currency"],
                on=["gross_revenue", "net_revenue"],
                variable_name="measure",
                value_name="amount",
            )
        )
        return (
            chart_of(long)
            .mark_bar()
            .encode(
                x=alt.X("period:O", title=self.period),
                y=alt.Y("amount:Q", title="major units"),
                color="measure:N",
                xOffset="measure:N",
                row=alt.Row("currency:N", title=None),
                tooltip=["period:O", "currency:N", "measure:N", "amount:Q"],
            )
            .properties(title="Gross and net revenue", width=WIDTH, height=HEIGHT // 2)
        )

    def _cohort_chart(self) -> Any:
        alt = altair()
        return (
            chart_of(self.tables["cohorts"])
            .mark_rect()
            .encode(
                x=alt.X("weeks_since_signup:O", title="weeks since sign-up"),
                y=alt.Y("cohort_week:O", title="sign-up week"),
                color=alt.Color("retention:Q", scale=alt.Scale(domain=[0, 1])),
                tooltip=["cohort_week:O", "signups:Q", "weeks_since_signup:O", "retention:Q"],
            )
            .properties(title="Weekly sign-up cohorts: share active", width=WIDTH)
        )
