"""Per-destination dedup windows, on top of the global eventId dedup done at ingest.

Each ad platform dedups on its own key within its own window, defaults from the contract
(seed 003): Meta and TikTok event name + event_id, 48 h; Google the order/transaction ID,
24 h (Google itself refuses a reused orderId at any age, so a longer window is safe);
LinkedIn, Snapchat and Reddit the event ID, 48 h (Reddit: "per account config").
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

from trackstack_wh.contract import Family


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
            "google", ("event_name", "transaction_id"), dt.timedelta(hours=24), "orderId, 24 h"
        ),
        DedupRule("linkedin", ("event_id",), HOURS_48, "eventId; window unconfirmed"),
        DedupRule("snapchat", ("event_id",), HOURS_48, "event_id; window unconfirmed"),
        DedupRule("reddit", ("event_id",), HOURS_48, "conversion_id; window unconfirmed"),
    )
}
"""Default rules; override windows with ``dedup_rules(windows={...})``."""

REVENUE_FAMILIES = (Family.PURCHASE.value, Family.REFUND.value)


def dedup_rules(windows: Mapping[str, dt.timedelta | None] | None = None) -> list[DedupRule]:
    """The rules with any window overrides applied (unknown destinations are an error)."""
    windows = dict(windows or {})
    unknown = set(windows) - set(DEDUP_RULES)
    if unknown:
        raise ValueError(
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


def _rule_sql(rule: DedupRule, index: int) -> str:
    """Suppressed copies for one destination: same platform key, or same transactionId on
    a revenue event, within the window after an earlier copy."""
    window = "null" if rule.window is None else f"$window_{index}"
    key = " || '|' || ".join(f"coalesce(e.{c}, '')" for c in rule.key_columns)
    not_null = " and ".join(f"e.{c} is not null" for c in rule.key_columns)
    by_transaction = "transaction_id" in rule.key_columns
    keys = [("duplicate_key", key, not_null)]
    if not by_transaction:
        keys.append(
            (
                "duplicate_transaction_id",
                "e.event_name || '|' || e.transaction_id",
                "e.transaction_id is not null and c.family in $revenue_families",
            )
        )
    parts = []
    for reason, expr, condition in keys:
        reason = "duplicate_transaction_id" if by_transaction else reason
        parts.append(f"""
    select event_id, '{rule.destination}' as destination, '{reason}' as reason,
        dedup_key, lag(event_id) over w as duplicate_of,
        ts - lag(ts) over w as gap, {window}::double as window_hours
    from (
        select e.event_id, e.ts, e.line_no, e.batch_id, {expr} as dedup_key
        from events e join canonical_events c using (event_name)
        where c.routes_ads and {condition}
    )
    window w as (partition by dedup_key order by ts, batch_id, line_no)""")
    return "\nunion all\n".join(parts)


def build_destination_dedup(
    conn: duckdb.DuckDBPyConnection, windows: Mapping[str, dt.timedelta | None] | None = None
) -> None:
    """(Re)build ``destination_dedup`` from ``events`` for every ad destination."""
    rules = dedup_rules(windows)
    params: dict[str, object] = {"revenue_families": list(REVENUE_FAMILIES)}
    for i, rule in enumerate(rules):
        if rule.window is not None:
            params[f"window_{i}"] = rule.window.total_seconds() / 3600
    selects = "\nunion all\n".join(_rule_sql(rule, i) for i, rule in enumerate(rules))
    conn.execute(_DEDUP_DDL)
    conn.execute(
        f"""
insert into destination_dedup
select event_id, destination, min(reason), min(dedup_key), min(duplicate_of), min(window_hours)
from ({selects})
where gap is not null
  and (window_hours is null or epoch(gap) / 3600 <= window_hours)
group by event_id, destination""",
        params,
    )
