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
from trackstack_wh.timewindow import TimeWindow, in_window, window_params


def quality_report(
    conn: duckdb.DuckDBPyConnection, *, window: TimeWindow | None = None
) -> QualityReport:
    """Quality of the events in ``window`` (default all); needs ``event_quality`` built."""
    params = window_params(window)
    tables = {
        name: conn.sql(sql.load(f"reports/quality_{name}"), params=params).pl()
        for name in ("scores", "by_event", "match_keys")
    }
    platform = platform_scores_sql(conn)
    used = {k: v for k, v in params.items() if f"${k}" in platform}
    tables["platform"] = conn.sql(platform, params=used or None).pl()
    return QualityReport(tables, window)


def platform_scores_sql(conn: duckdb.DuckDBPyConnection) -> str:
    """Our score next to the platform's own figure, per destination and event name: for
    Meta, the mean quality score (before and after stitching) of the events we made ready
    under each event name, beside the latest event match quality Meta reported for it; for
    Google, the share of read-back requests Google reports as succeeded."""
    has_meta = conn.execute(
        "select count(*) from duckdb_tables() where table_name = 'capi_meta'"
    ).fetchall()[0][0]
    sent = (
        f"""select 'meta' as destination, p.platform_event_name as event_name,
            count(*) as events, round(avg(q.score), 2) as local_score,
            round(avg(q.score_stitched), 2) as local_score_stitched
        from capi_meta p join event_quality q using (event_id)
        where p.status = 'ready' and {in_window("p.event_time")}
        group by all"""
        if has_meta
        else "select null::varchar as destination, null::varchar as event_name, "
        "null::bigint as events, null::double as local_score, "
        "null::double as local_score_stitched where false"
    )
    return f"""
with sent as ({sent}),
reported as (
    select destination, scope as event_name, value as platform_value,
        'event_match_quality' as platform_metric, fetched_at
    from platform_diagnostics_latest
    where source = 'meta_dataset_quality' and metric = 'event_match_quality'
    union all
    select destination, '*', round(avg((text = 'SUCCESS')::int), 4),
        'requests_succeeded_share', max(fetched_at)
    from platform_diagnostics_latest
    where source = 'google_request_status' and metric = 'request_status'
    group by destination
)
select coalesce(s.destination, r.destination) as destination,
    coalesce(s.event_name, r.event_name) as event_name, s.events, s.local_score,
    s.local_score_stitched, r.platform_metric, r.platform_value, r.fetched_at
from sent s full join reported r
    on r.destination = s.destination and r.event_name = s.event_name
order by destination, event_name"""


class QualityReport(Report):
    """``.df``: events per whole score (0-10) and stage; ``by_event``: mean score and
    missing identity signals; ``match_keys``: events each ad platform cannot match;
    ``platform``: our score beside the platforms' own figures (`platform_scores_sql`)."""

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
