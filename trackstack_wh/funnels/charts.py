"""Conversion funnel charts: bars per step with the drop-off from the previous step,
the time-to-convert histogram, and delivery outcomes per step and ad destination. Steps
are labelled with their number (``1. PageView``), so a repeated step keeps its own bar."""

from __future__ import annotations

from typing import Any

import polars as pl

from trackstack_wh.reports.charts import HEIGHT, WIDTH, altair, chart_of, outcome_scale

NUMBERED = (pl.col("step_order").cast(pl.String) + ". " + pl.col("step")).alias("step")
"""A step's chart label, unique per step: ``1. PageView``."""


def _numbered(frame: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """``frame`` with ``step`` numbered, and the steps in order."""
    frame = frame.with_columns(NUMBERED)
    return frame, frame.sort("step_order")["step"].unique(maintain_order=True).to_list()


def funnel_chart(steps: pl.DataFrame, by: str | None) -> Any:
    """People per step; without ``by``, the drop-off from the previous step stacked
    in grey above each bar, labelled with the conversion from the first step."""
    alt = altair()
    steps, order = _numbered(steps.select(pl.exclude(pl.Duration)))
    if by is not None:
        return (
            chart_of(steps)
            .mark_bar()
            .encode(
                x=alt.X("step:N", sort=order, title=None),
                y=alt.Y("people:Q"),
                color=alt.Color(f"{by}:N"),
                xOffset=f"{by}:N",
                tooltip=["step:N", f"{by}:N", "people:Q", "conversion_from_previous:Q"],
            )
            .properties(title=f"People reaching each step, by {by}", width=WIDTH, height=HEIGHT)
        )
    previous = steps["people"].shift(1)
    long = pl.concat([
        steps.select("step", "step_order", pl.lit("reached").alias("part"), "people"),
        steps.select("step", "step_order", pl.lit("dropped").alias("part"),
                     (previous - steps["people"]).fill_null(0).alias("people")),
    ])  # fmt: skip
    bars = (
        chart_of(long)
        .mark_bar()
        .encode(
            x=alt.X("step:N", sort=order, title=None),
            y=alt.Y("sum(people):Q", title="people"),
            color=alt.Color(
                "part:N",
                scale=alt.Scale(domain=["reached", "dropped"], range=["#1565c0", "#cfd8dc"]),
                title=None,
            ),
            order=alt.Order("part:N", sort="descending"),
            tooltip=["step:N", "part:N", "people:Q"],
        )
    )
    labels = (
        chart_of(steps.with_columns(pl.col("conversion_from_first").fill_null(0.0)))
        .mark_text(dy=-6, baseline="bottom")
        .encode(
            x=alt.X("step:N", sort=order),
            y="people:Q",
            text=alt.Text("conversion_from_first:Q", format=".1%"),
        )
    )
    return (bars + labels).properties(
        title="People reaching each step, and the drop-off", width=WIDTH, height=HEIGHT
    )


def time_chart(hist: pl.DataFrame) -> Any:
    """People per bucket of time from the previous step, one bar per step."""
    alt = altair()
    buckets = hist.sort("bucket_order")["bucket"].unique(maintain_order=True).to_list()
    hist, order = _numbered(hist)
    return (
        chart_of(hist)
        .mark_bar()
        .encode(
            x=alt.X("bucket:N", sort=buckets, title="time from the previous step"),
            y=alt.Y("people:Q"),
            color=alt.Color("step:N", sort=order),
            xOffset="step:N",
            tooltip=["step:N", "bucket:N", "people:Q"],
        )
        .properties(title="Time to convert", width=WIDTH, height=HEIGHT)
    )


def delivery_chart(delivery: pl.DataFrame) -> Any:
    """Per step and ad destination: the step's events by delivery outcome."""
    alt = altair()
    shown = ["delivered", "rejected", "failed", "skipped", "duplicate", "never_attempted"]
    long = delivery.select(
        NUMBERED,
        "destination",
        *shown,
    ).unpivot(index=["step", "destination"], on=shown, variable_name="outcome",
              value_name="events")  # fmt: skip
    return (
        chart_of(long.filter(pl.col("events") > 0))
        .mark_bar()
        .encode(
            x=alt.X("events:Q", title="events (one per person reaching the step)"),
            y=alt.Y("destination:N", title=None),
            color=alt.Color("outcome:N", scale=outcome_scale()),
            row=alt.Row("step:N", title=None),
            tooltip=["step:N", "destination:N", "outcome:N", "events:Q"],
        )
        .properties(title="What the ad platforms received, per step", width=WIDTH)
        .resolve_scale(x="independent")
    )
