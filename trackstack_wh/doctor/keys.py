"""The doctor's match-key check: per enabled destination, the share of its conversions
(payload rows of lead, sign-up, trial, first-action, checkout, purchase and refund events
in the window) that carry an email, the platform's click ID and a user agent, their own
or stitched from the person's other rows when the destination takes stitched keys."""

from __future__ import annotations

import polars as pl

from trackstack_wh.config import AD_DESTINATIONS
from trackstack_wh.config.stitching import CONVERSION_EVENTS
from trackstack_wh.db import query_frame
from trackstack_wh.doctor.report import OK, WARN, Check
from trackstack_wh.doctor.scope import Scope
from trackstack_wh.payloads.inspect import existing_tables
from trackstack_wh.sql import lit
from trackstack_wh.stitch import CLICK_GROUPS

MIN_SHARE = {"email": 0.5, "click_id": 0.1, "user_agent": 0.5}
"""Below these shares of a destination's conversions, the check warns."""
LABELS = {"email": "email", "click_id": "click ID", "user_agent": "user agent"}
FIXES = {
    "email": "send email with every capture (and identify on login)",
    "click_id": "capture the landing page's full pageUrl (its gclid, fbclid, ... are read "
    "from it) and keep stitching on",
    "user_agent": "send userAgent with server-side events too (the visitor's, not the server's)",
}
STITCHED = ("email_sha256", "user_agent", *(c for _, cs in CLICK_GROUPS.values() for c in cs))
"""The ``event_stitch`` columns read."""
OWN_CLICKS = {owner: (*columns, *(("fbclid",) if owner == "meta" else ())) for owner, columns in
              CLICK_GROUPS.values()}  # fmt: skip
"""Destination -> the ``events`` columns holding its click ID (Meta builds fbc from fbclid)."""


def _click_case() -> str:
    """SQL: the row carries its destination's click ID (own, or stitched when the
    destination takes stitched clicks)."""
    arms = []
    for destination, columns in OWN_CLICKS.items():
        own = " or ".join(f"e.{c} is not null" for c in columns)
        stitched = " or ".join(f"s.{c} is not null" for c in columns if c != "fbclid")
        arms.append(
            f"when {lit(destination)} then {own} "
            f"or (list_contains($clicks::varchar[], r.destination) and ({stitched}))"
        )
    return "case r.destination " + " ".join(arms) + " end"


SHARES_SQL = """
with payload_rows as ({rows}),
carried as (
    select r.destination,
        e.email is not null or (list_contains($pii::varchar[], r.destination)
            and s.email_sha256 is not null) as email,
        {click} as click_id,
        e.user_agent is not null
            or (list_contains($browser::varchar[], r.destination) and s.user_agent is not null)
            as user_agent
    from payload_rows r
    join events e using (event_id)
    left join {stitch} s using (event_id)
    where e.event_name in (select unnest($conversions::varchar[]))
)
select destination, count(*)::bigint as conversions,
    avg(email::int) as email, avg(click_id::int) as click_id, avg(user_agent::int) as user_agent
from carried group by 1 order by 1
"""


def shares(scope: Scope) -> pl.DataFrame:
    """Per enabled destination with payload rows: ``conversions`` in the window and the
    share carrying ``email``, ``click_id`` and ``user_agent``."""
    tables = existing_tables(scope.conn)
    chosen = [tables[d.name] for d in scope.enabled() if d.name in tables]
    if not chosen or scope.since is None:
        return pl.DataFrame(schema={"destination": pl.String, "conversions": pl.Int64})
    rows = " union all ".join(
        f"select distinct destination, event_id from {t} "
        "where status <> 'duplicate' and event_time between $since and $until"
        for t in chosen
    )
    columns = ", ".join(f"null::varchar as {c}" for c in STITCHED)
    stitch = (
        f"(select event_id, {', '.join(STITCHED)} from event_stitch)"
        if scope.has("event_stitch")
        else f"(select null::varchar as event_id, {columns} where false)"
    )
    classes = {c: [d.name for d in scope.enabled() if c in d.stitch_classes()]
               for c in ("pii", "browser", "clicks")}  # fmt: skip
    query = SHARES_SQL.format(rows=rows, click=_click_case(), stitch=stitch)
    params = {**scope.params, **classes, "conversions": list(CONVERSION_EVENTS)}
    return query_frame(scope.conn, query, params)


def _judged(destination: str) -> tuple[str, ...]:
    """The shares that matter for a destination (a CRM or PostHog: email only)."""
    return ("email",) if destination not in AD_DESTINATIONS else tuple(MIN_SHARE)


def match_keys(scope: Scope) -> Check:
    """Conversions carry email, click IDs and user agents often enough per destination."""
    if scope.since is None:
        return Check("match_keys", WARN, "no events in the warehouse yet", FIXES["email"])
    found = shares(scope)
    if found.is_empty():
        return Check(
            "match_keys", WARN,
            f"no conversion (lead, sign-up, trial, purchase...) has payload rows in "
            f"{scope.period}",
            "capture conversions with email, then run `trackstack-wh payloads`",
        )  # fmt: skip
    low: list[str] = []
    lows: set[str] = set()
    listed: list[str] = []
    for row in found.iter_rows(named=True):
        name = row["destination"]
        parts = [f"{LABELS[k]} {row[k]:.0%}" for k in _judged(name)]
        listed.append(f"{name} ({row['conversions']:,}): {', '.join(parts)}")
        for key in _judged(name):
            if row[key] < MIN_SHARE[key]:
                low.append(f"{name} {LABELS[key]} {row[key]:.0%} < {MIN_SHARE[key]:.0%}")
                lows.add(key)
    shares_line = f"conversions in {scope.period} carrying each key: " + "; ".join(listed)
    if low:
        fix = "; ".join(FIXES[k] for k in MIN_SHARE if k in lows)
        return Check("match_keys", WARN, f"low: {', '.join(low)}. {shares_line}", fix)
    return Check("match_keys", OK, shares_line)
