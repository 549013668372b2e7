"""The quality report: score distribution, missing identity signals and missing match
keys per event (SQL in ``sql/reports/quality_*.sql``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import duckdb
import polars as pl

from trackstack_wh import sql
from trackstack_wh.contract.events import FUNNEL_STAGES
from trackstack_wh.reports.base import ChartBuilder, Report
from trackstack_wh.reports.charts import HEIGHT, WIDTH, altair, chart_of
from trackstack_wh.timewindow import TimeWindow, window_params


def quality_report(
    conn: duckdb.DuckDBPyConnection, *, window: TimeWindow | None = None
) -> QualityReport:
    """Quality of the events in ``window`` (default all); needs ``event_quality`` built."""
    params = window_params(window)
    tables = {
        name: conn.sql(sql.load(f"reports/quality_{name}"), params=params).pl()
        for name in ("scores", "by_event", "match_keys")
    }
    return QualityReport(tables, window)


class QualityReport(Report):
    """``.df``: events per whole score (0-10) and stage; ``by_event``: mean score and
    missing identity signals; ``match_keys``: events each ad platform cannot match."""

    def __init__(self, tables: dict[str, pl.DataFrame], window: TimeWindow | None) -> None:
        scope = f"events {window}" if window else "all events"
        super().__init__(
            title="Event quality",
            description=(
                f"Quality scores (0-10: identity completeness, required and revenue fields, "
                f"uniqueness) and the identifiers each platform can match on; {scope}."
            ),
            tables=tables,
        )

    def chart_builders(self) -> Mapping[str, ChartBuilder]:
        return {"scores": self._scores_chart, "match_keys": self._match_keys_chart}

    def _scores_chart(self) -> Any:
        alt = altair()
        stages = [s.value for s in FUNNEL_STAGES] + ["Product", "Custom"]
        return (
            chart_of(self.tables["scores"])
            .mark_bar()
            .encode(
                x=alt.X("score:O", title="quality score (whole points)"),
                y=alt.Y("sum(events):Q", title="events"),
                color=alt.Color("stage:N", sort=stages),
                tooltip=["score:O", "stage:N", "sum(events):Q"],
            )
            .properties(title="Quality score distribution", width=WIDTH, height=HEIGHT)
        )

    def _match_keys_chart(self) -> Any:
        alt = altair()
        return (
            chart_of(self.tables["match_keys"])
            .mark_rect()
            .encode(
                x=alt.X("destination:N", title=None),
                y=alt.Y("event_name:N", title=None),
                color=alt.Color(
                    "share_without_match_keys:Q",
                    title="share without keys",
                    scale=alt.Scale(domain=[0, 1], scheme="oranges"),
                ),
                tooltip=["destination:N", "event_name:N", "events:Q", "without_match_keys:Q"],
            )
            .properties(title="Events a platform cannot match, by event", width=WIDTH // 2)
        )
