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
from trackstack_wh.sql import lit


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
DEDUP_REASONS = ("duplicate_transaction_id",)
"""The reasons a ``destination_dedup`` row gives (they are also event warnings)."""


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
select event_id, event_seq, dedup_key, lag(event_id) over w as duplicate_of,
    epoch(ts - lag(ts) over w) / 3600 as gap_hours
from (
    select e.event_id, e.event_seq, e.ts, e.line_no, e.batch_id,
        e.event_name || '|' || e.transaction_id as dedup_key
    from events e join canonical_events c using (event_name)
    where c.routes_ads and e.transaction_id is not null and c.family in $revenue_families
      and {only}
)
window w as (partition by dedup_key order by ts, batch_id, line_no)
"""
"""Each revenue event with a transactionId, with the earlier copy it repeats (if any);
``{only}`` narrows the events (to the transaction IDs of new events)."""

_DECISIONS_SQL = f"""
select c.event_id, w.destination, {lit(DEDUP_REASONS[0])} as reason, c.dedup_key,
    c.duplicate_of, w.window_hours
from {{copies}} c cross join dedup_windows w
where c.duplicate_of is not null
  and (w.window_hours is null or c.gap_hours <= w.window_hours)"""
"""The ``destination_dedup`` rows of the copies ``{copies}`` (rows of `_COPIES_SQL`)."""

NEW_TRANSACTIONS = "e.transaction_id in (select transaction_id from {new})"


def _windows_frame(windows: Mapping[str, dt.timedelta | None] | None) -> pl.DataFrame:
    chosen = dedup_rules(windows)
    return pl.DataFrame(
        {
            "destination": [r.destination for r in chosen],
            "window_hours": [
                None if r.window is None else r.window.total_seconds() / 3600 for r in chosen
            ],
        },
        schema={"destination": pl.String, "window_hours": pl.Float64},
    )


def build_destination_dedup(
    conn: duckdb.DuckDBPyConnection, windows: Mapping[str, dt.timedelta | None] | None = None
) -> None:
    """(Re)build ``destination_dedup`` from ``events`` for every destination with a rule.

    Platform keys that contain the event ID need no check here (ingest keeps one row per
    eventId), so one window pass over transactionId copies serves every destination;
    each destination then applies its own window.
    """
    copies = f"({_COPIES_SQL.format(only='true')})"
    conn.execute(_DEDUP_DDL)
    conn.register("dedup_windows", _windows_frame(windows))
    try:
        conn.execute(
            f"insert into destination_dedup {_DECISIONS_SQL.format(copies=copies)}",
            {"revenue_families": list(REVENUE_FAMILIES)},
        )
    finally:
        conn.unregister("dedup_windows")


def update_destination_dedup(
    conn: duckdb.DuckDBPyConnection,
    new_events: str,
    changed: str,
    windows: Mapping[str, dt.timedelta | None] | None = None,
) -> None:
    """Judge again only the copies of the transactions that the events of relation
    ``new_events`` carry, old copies included (a late copy with an earlier timestamp makes
    the old first copy the duplicate), and replace their rows. Every event whose decision
    changed, for any destination, lands in temp table ``changed`` (``event_id,
    event_seq``); the rest of ``destination_dedup`` is not read."""
    only = NEW_TRANSACTIONS.format(new=new_events)
    conn.register("dedup_windows", _windows_frame(windows))
    try:
        conn.execute(
            f"create or replace temp table dedup_copies as {_COPIES_SQL.format(only=only)}",
            {"revenue_families": list(REVENUE_FAMILIES)},
        )
        conn.execute(
            "create or replace temp table dedup_rejudged as "
            + _DECISIONS_SQL.format(copies="dedup_copies")
        )
        conn.execute(
            f"""create or replace temp table {changed} as
with before as (
    select * from destination_dedup where event_id in (select event_id from dedup_copies)
)
select distinct event_id, c.event_seq
from ((from dedup_rejudged except all from before)
      union all (from before except all from dedup_rejudged))
join dedup_copies c using (event_id)"""
        )
        conn.execute(
            "delete from destination_dedup where event_id in (select event_id from dedup_copies)"
        )
        conn.execute("insert into destination_dedup from dedup_rejudged")
    finally:
        conn.unregister("dedup_windows")
        conn.execute("drop table if exists temp.dedup_copies")
        conn.execute("drop table if exists temp.dedup_rejudged")


def changed_decisions(conn: duckdb.DuckDBPyConnection, before: str, changed: str) -> None:
    """Temp table ``changed`` (``event_id, event_seq``): the events whose rows differ
    between relation ``before`` (an earlier ``destination_dedup``) and the current one."""
    conn.execute(
        f"""create or replace temp table {changed} as
select distinct d.event_id, e.event_seq
from ((from destination_dedup except all from {before})
      union all (from {before} except all from destination_dedup)) d
join events e using (event_id)"""
    )
