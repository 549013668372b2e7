"""Per-destination dedup windows, on top of the global eventId dedup done at ingest.

Each ad platform dedups on its own key within its own window, defaults from the contract
(seed 003): Meta and TikTok event name + event_id, 48 h; Google the order/transaction ID,
24 h (Google itself refuses a reused orderId at any age, so a longer window is safe);
LinkedIn, Snapchat and Reddit the event ID, 48 h (Reddit: "per account config");
HubSpot's custom events the transaction ID, 48 h (HubSpot has no dedup of its own).
Because ``events`` already holds one row per eventId, what remains to catch is the same
conversion sent twice with different eventIds, e.g. a Purchase from the browser and from
the server without a shared ID: copies of a revenue event with the same transactionId
are duplicates for every destination within its window. Decisions land in
``destination_dedup`` (one row per suppressed copy and destination, pointing at the
earlier copy it repeats).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace

import duckdb
import polars as pl

from trackstack_wh.contract import Family
from trackstack_wh.errors import UsageError


@dataclass(frozen=True)
class DedupRule:
    """A destination's dedup key (``events`` columns) and window (None: no time limit)."""

    destination: str
    key_columns: tuple[str, ...]
    window: dt.timedelta | None
    note: str


HOURS_48 = dt.timedelta(hours=48)

DEDUP_RULES: dict[str, DedupRule] = {
    r.destination: r
    for r in (
        DedupRule("meta", ("event_name", "event_id"), HOURS_48, "event_name + event_id, 48 h"),
        DedupRule("tiktok", ("event_name", "event_id"), HOURS_48, "event + event_id, 48 h"),
        DedupRule(
            "google_ads", ("event_name", "transaction_id"), dt.timedelta(hours=24), "orderId, 24 h"
        ),
        DedupRule("linkedin", ("event_id",), HOURS_48, "eventId; window unconfirmed"),
        DedupRule("snapchat", ("event_id",), HOURS_48, "event_id; window unconfirmed"),
        DedupRule("reddit", ("event_id",), HOURS_48, "conversion_id; window unconfirmed"),
        DedupRule(
            "hubspot", ("event_name", "transaction_id"), HOURS_48, "custom events: transactionId"
        ),
    )
}
"""Default rules; override windows with ``dedup_rules(windows={...})``."""

REVENUE_FAMILIES = (Family.PURCHASE.value, Family.REFUND.value)


def dedup_rules(windows: Mapping[str, dt.timedelta | None] | None = None) -> list[DedupRule]:
    """The rules with any window overrides applied (unknown destinations are an error)."""
    windows = dict(windows or {})
    unknown = set(windows) - set(DEDUP_RULES)
    if unknown:
        raise UsageError(
            f"no dedup rule for {sorted(unknown)}; destinations are {sorted(DEDUP_RULES)}"
        )
    return [
        replace(rule, window=windows[name]) if name in windows else rule
        for name, rule in DEDUP_RULES.items()
    ]


_DEDUP_DDL = """
create or replace table destination_dedup (
    event_id varchar not null,
    destination varchar not null,
    reason varchar not null,
    dedup_key varchar not null,
    duplicate_of varchar not null,
    window_hours double,
    primary key (event_id, destination)
)
"""


_COPIES_SQL = """
select event_id, dedup_key, lag(event_id) over w as duplicate_of,
    epoch(ts - lag(ts) over w) / 3600 as gap_hours
from (
    select e.event_id, e.ts, e.line_no, e.batch_id,
        e.event_name || '|' || e.transaction_id as dedup_key
    from events e join canonical_events c using (event_name)
    where c.routes_ads and e.transaction_id is not null and c.family in $revenue_families
)
window w as (partition by dedup_key order by ts, batch_id, line_no)
"""
"""Each revenue event with a transactionId, with the earlier copy it repeats (if any)."""


def build_destination_dedup(
    conn: duckdb.DuckDBPyConnection, windows: Mapping[str, dt.timedelta | None] | None = None
) -> None:
    """(Re)build ``destination_dedup`` from ``events`` for every destination with a rule.

    Platform keys that contain the event ID need no check here (ingest keeps one row per
    eventId), so one window pass over transactionId copies serves every destination;
    each destination then applies its own window.
    """
    chosen = dedup_rules(windows)
    rules = pl.DataFrame(
        {
            "destination": [r.destination for r in chosen],
            "window_hours": [
                None if r.window is None else r.window.total_seconds() / 3600 for r in chosen
            ],
        },
        schema={"destination": pl.String, "window_hours": pl.Float64},
    )
    conn.execute(_DEDUP_DDL)
    conn.register("dedup_windows", rules)
    try:
        conn.execute(
            f"""
insert into destination_dedup
select c.event_id, w.destination, 'duplicate_transaction_id', c.dedup_key, c.duplicate_of,
    w.window_hours
from ({_COPIES_SQL}) c cross join dedup_windows w
where c.duplicate_of is not null
  and (w.window_hours is null or c.gap_hours <= w.window_hours)""",
            {"revenue_families": list(REVENUE_FAMILIES)},
        )
    finally:
        conn.unregister("dedup_windows")
