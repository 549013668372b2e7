"""``wh.conversion_funnel(...)``: an ordered (or unordered) conversion funnel over the
stitched people, with who dropped, cohort trends and what the ad platforms received."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb
import polars as pl

from trackstack_wh.config.privacy import PrivacySettings
from trackstack_wh.db import query_frame
from trackstack_wh.errors import UsageError
from trackstack_wh.funnels import charts
from trackstack_wh.funnels.attributes import (
    PERSON_AD_USE,
    add_segments,
    attributes_sql,
    check_breakdown,
    range_params,
)
from trackstack_wh.funnels.compute import ORDERS, person_paths, person_source
from trackstack_wh.funnels.delivery import delivery_sql, empty_delivery
from trackstack_wh.funnels.steps import Step, event_columns, parse_steps, parse_window
from trackstack_wh.funnels.tables import as_durations, histogram_sql, steps_sql
from trackstack_wh.reports.base import ChartBuilder, Report

PERIODS = ("day", "week", "month", "quarter", "year")
STATUSES = ("dropped", "converted", "reached")
_names = itertools.count(1)


def conversion_funnel(
    conn: duckdb.DuckDBPyConnection,
    steps: Sequence[str | Step] | str | None = None,
    *,
    window: dt.timedelta | str | float = dt.timedelta(days=30),
    by: str | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    order: str = "strict",
    privacy: PrivacySettings | None = None,
) -> ConversionFunnel:
    """Compute the funnel (see ``trackstack_wh.funnels.compute`` for the definition);
    ``privacy``: the workspace's ``[privacy]`` (its ``default_ad_user_data`` decides
    whether drop-off lists show the email of people who gave no consent answer)."""
    if order not in ORDERS:
        raise UsageError(f"order={order!r}; choose from {ORDERS}")
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound.tzinfo is None:
            raise UsageError(f"{name} must be timezone-aware (UTC)")
    span = parse_window(window)
    columns = event_columns(conn)
    check_breakdown(by, columns)
    parsed = parse_steps(steps, conn, columns)
    table = f"conversion_paths_{next(_names)}"
    people = person_source(conn)
    try:
        person_paths(conn, parsed, columns, window=span, since=since, until=until,
                     order=order, table=table, people=people)  # fmt: skip
        add_segments(conn, table, people, by, since, until)
        paths = conn.sql(f"select * from {table} order by person").pl()
    finally:
        conn.execute(f"drop table if exists {table}")
    default = privacy.default_ad_user_data if privacy else None
    return ConversionFunnel(conn, parsed, span, by, since, until, order, paths,
                            people=people, default_ad_user_data=default)  # fmt: skip


class ConversionFunnel(Report):
    """``.df``: people per step with conversion and time between steps (per ``by``
    segment); ``.tables['time_to_convert']``; ``.people()``, ``.trends()``,
    ``.delivery()``; ``.chart()``."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        steps: list[Step],
        window: dt.timedelta,
        by: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        order: str,
        paths: pl.DataFrame,
        *,
        people: str = "event_people",
        default_ad_user_data: str | None = None,
    ) -> None:
        self.conn = conn
        self.steps = steps
        self.window = window
        self.by = by
        self.since = since
        self.until = until
        self.order = order
        self.paths = paths
        self.people_source = people
        """The relation naming each event's person the paths were computed with."""
        self.default_ad_user_data = default_ad_user_data
        """``[privacy].default_ad_user_data``: the ad-use answer of people who gave none."""
        labels = [s.label for s in steps]
        with self._registered() as rel:
            keys = f"select distinct segment as key from {rel}" if by else "select null as key"
            query, params = steps_sql(rel, labels, "segment", keys)
            table = as_durations(query_frame(conn, query, params))
            hist = query_frame(conn, *histogram_sql(rel, labels))
        table = table.drop("key") if by is None else table.rename({"key": by})
        scope = ", ".join(
            p for p in (f"since {since:%Y-%m-%d %H:%M}" if since else "",
                        f"until {until:%Y-%m-%d %H:%M}" if until else "") if p
        ) or "all events"  # fmt: skip
        way = "in order" if order == "strict" else "in any order"
        super().__init__(
            title="Conversion funnel: " + " -> ".join(labels),
            description=(
                f"People (stitched across user ID, email and session) reaching each step "
                f"{way} within {_span(window)} of their first step; {scope}"
                + (f"; by {by}" if by else "")
                + ". Conversion never exceeds 1: a person counts at a step only after "
                "reaching every earlier one."
            ),
            tables={"steps": table, "time_to_convert": hist},
        )

    def people(self, step: int, status: str = "dropped") -> pl.DataFrame:
        """The people at ``step`` (1-based): ``dropped`` (reached it, not the next),
        ``converted`` (went on to the next; at the last step: reached it) or ``reached``;
        with email (NULL where the person's latest consent answer refuses ad use, or, with
        no answer, the workspace's ``default_ad_user_data`` does), company, first-touch
        channel and last event; with ``by``, the person's segment in a column named
        ``by`` (``by_<by>`` should a listed column already have that name and differ)."""
        if not 1 <= step <= len(self.steps):
            raise UsageError(f"step={step}; this funnel has steps 1..{len(self.steps)}")
        if status not in STATUSES:
            raise UsageError(f"status={status!r}; choose from {STATUSES}")
        last = len(self.steps)
        cond = {
            "dropped": f"reached = {step}" if step < last else "false",
            "converted": f"reached >= {min(step + 1, last)}",
            "reached": f"reached >= {step}",
        }[status]
        extra = ", p.segment as segment" if self.by else ""
        with self._registered() as rel:
            attrs = attributes_sql().format(people=self.people_source, paths=rel)
            frame = query_frame(
                self.conn,
                f"""
select p.person,
    case when {PERSON_AD_USE} is distinct from 'denied' then a.email end as email,
    a.company, a.channel, a.last_event, a.last_event_at, p.reached,
    p.entered_at, p.t{step} as step_at, p.e{step} as step_event_id{extra}
from {rel} p left join ({attrs}) a using (person)
where {cond}
order by p.entered_at, p.person""",
                {
                    **range_params(self.since, self.until),
                    "default_ad_user_data": self.default_ad_user_data,
                },
            )
        if self.by is None:
            return frame
        if self.by not in frame.columns:
            return frame.rename({"segment": self.by})
        if frame[self.by].equals(frame["segment"]):  # channel, company: the same attribute
            return frame.drop("segment")
        return frame.rename({"segment": f"by_{self.by}"})

    def trends(self, period: str = "week") -> pl.DataFrame:
        """Conversion per cohort of people who entered the funnel in the same
        ``period`` (day, week, month, quarter, year): rates never exceed 1."""
        if period not in PERIODS:
            raise UsageError(f"period={period!r}; choose from {PERIODS}")
        key = f"date_trunc('{period}', entered_at)::date"
        with self._registered() as rel:
            query, params = steps_sql(
                rel, [s.label for s in self.steps], key, f"select distinct {key} as key from {rel}"
            )
            frame = as_durations(query_frame(self.conn, query, params))
        return frame.rename({"key": "cohort"})

    def delivery(self, *, mode: str = "live", target: str = "live") -> pl.DataFrame:
        """Per step and ad destination: the step's events of the people who reached it
        (one per person) that were ``routed``, their payload ``rows`` by reconciliation
        bucket (as ``wh.reconcile(mode=, target=)`` counts them), ``sent``, the top
        skip/rejection reasons, and the share of sent rows carrying an email, phone,
        user ID or click ID match key (``key_coverage``)."""
        name = f"conversion_steps_{next(_names)}"
        events = self.step_events()
        self.conn.register(name, events.to_arrow())
        try:
            built = delivery_sql(self.conn, name, mode, target)
            if built is None:
                return empty_delivery()
            return query_frame(self.conn, *built)
        finally:
            self.conn.unregister(name)

    def step_events(self) -> pl.DataFrame:
        """One row per person and step reached: ``step_order, step, people, person,
        event_id`` (the event that took them to the step)."""
        frames = [
            self.paths.filter(pl.col("reached") >= i).select(
                pl.lit(i, pl.Int32).alias("step_order"),
                pl.lit(step.label).alias("step"),
                pl.len().cast(pl.Int64).alias("people"),
                "person",
                pl.col(f"e{i}").alias("event_id"),
            )
            for i, step in enumerate(self.steps, 1)
        ]
        return pl.concat(frames)

    def with_delivery(self, *, mode: str = "live", target: str = "live") -> ConversionFunnel:
        """This funnel with its ``delivery`` table (and chart) included, as the HTML
        report shows it."""
        self.tables["delivery"] = self.delivery(mode=mode, target=target)
        return self

    def display_tables(self) -> dict[str, pl.DataFrame]:
        """Times between steps rounded to the minute (``.tables`` keep microseconds)."""
        return {
            name: frame.with_columns(
                pl.duration(minutes=(pl.col(c).dt.total_seconds() / 60).round(0)).alias(c)
                for c, kind in frame.schema.items()
                if kind == pl.Duration
            )
            for name, frame in self.tables.items()
        }

    def to_csv(self, table: str | None = None) -> str:
        """One table (default ``steps``) as CSV, times between steps in seconds (as in
        JSON)."""
        frame = self.table(table) if table else self.df
        seconds = [pl.col(c).dt.total_seconds(fractional=True).alias(c)
                   for c, kind in frame.schema.items() if kind == pl.Duration]  # fmt: skip
        return frame.with_columns(seconds).write_csv()

    def chart_builders(self) -> Mapping[str, ChartBuilder]:
        builders: dict[str, ChartBuilder] = {
            "funnel": lambda: charts.funnel_chart(self.df, self.by),
            "time_to_convert": lambda: charts.time_chart(self.tables["time_to_convert"]),
        }
        if "delivery" in self.tables and self.tables["delivery"].height:
            builders["delivery"] = lambda: charts.delivery_chart(self.tables["delivery"])
        return builders

    @contextmanager
    def _registered(self) -> Iterator[str]:
        name = f"conversion_view_{next(_names)}"
        self.conn.register(name, self.paths.to_arrow())
        try:
            yield name
        finally:
            self.conn.unregister(name)

    def headline(self) -> dict[str, Any]:
        """People per step (all segments together) and overall conversion."""
        people = [int((self.paths["reached"] >= i).sum()) for i in range(1, len(self.steps) + 1)]
        labels = [s.label for s in self.steps]
        if len(set(labels)) < len(labels):  # a repeated step: number them all
            labels = [f"{i}. {label}" for i, label in enumerate(labels, 1)]
        return {
            "people": dict(zip(labels, people, strict=True)),
            "conversion": people[-1] / people[0] if people and people[0] else None,
        }


def _span(window: dt.timedelta) -> str:
    if window % dt.timedelta(days=1) == dt.timedelta(0):
        return f"{window.days} days"
    return str(window)
