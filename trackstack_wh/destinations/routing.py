"""Which events go to which destination, under which name, and why not when they don't.

Set-based: one ``event_routes`` row per (event, enabled destination) with ``routed``,
the ``reason`` when not routed, and the destination's event name (or conversion rule /
action ID). Policy, from the contract's default routes:

- ad destinations take events whose default routes include ads (acquisition, revenue and
  the rest of the funnel); Refund, Chargeback, Churned and product extensions only when a
  destination lists them in ``events``;
- CRM destinations take events routed to CRM (all canonical ones by default);
- analytics destinations (PostHog) take every canonical event;
- a destination's ``events`` list, when given, is an allowlist;
- an event whose ``pageUrl`` host is outside ``workspace.allowed_domains`` (when set) goes
  nowhere (``domain_not_allowed``); server-side events without a page URL are not
  affected;
- an event the destination has no name or ID for is ``no_event_mapping``; a valid
  ``platformParams`` event name / conversion ID replaces the mapped one (an invalid one is
  ignored with a warning in ``event_quality``, `overrides`);
- a non-canonical (extension) event goes only where a destination lists it.
"""

from __future__ import annotations

import duckdb
import polars as pl

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.contract import CANONICAL_EVENTS, Route
from trackstack_wh.db import has_table, transaction
from trackstack_wh.destinations.mapping import (
    ANALYTICS_DESTINATIONS,
    CRM_DESTINATIONS,
    EVENT_PARAMS_KEY,
    platform_event_name,
)
from trackstack_wh.destinations.overrides import event_name_override
from trackstack_wh.sql import in_range
from trackstack_wh.timewindow import in_window

ROUTE_REASONS = {
    "not_routed_by_policy": "the contract routes this event away from this kind of destination",
    "not_in_allowlist": "the destination's events list does not include this event",
    "domain_not_allowed": "the page URL's domain is outside workspace.allowed_domains",
    "no_event_mapping": "no event name / conversion ID is configured for this destination",
}


def _destination_rules(config: WorkspaceConfig) -> pl.DataFrame:
    """One row per (enabled destination, canonical event): policy, allowlist, mapping."""
    rows = []
    for dest in config.enabled():
        route = Route.CRM if dest.name in CRM_DESTINATIONS else Route.ADS
        overrides = dict(dest.event_names) | dest.event_ids()
        listed = set(dest.events or ())
        for event in CANONICAL_EVENTS:
            rows.append(
                {
                    "destination": dest.name,
                    "event_name": event.name,
                    "by_policy": route in event.default_routes
                    or event.name in listed
                    or dest.name in ANALYTICS_DESTINATIONS,
                    "allowlisted": dest.events is None or event.name in listed,
                    "platform_event_name": platform_event_name(dest.name, event.name, overrides),
                    "params_key": EVENT_PARAMS_KEY.get(dest.name, "eventName"),
                }
            )
        for extension in sorted(listed - {e.name for e in CANONICAL_EVENTS}):
            rows.append(
                {
                    "destination": dest.name,
                    "event_name": extension,
                    "by_policy": True,
                    "allowlisted": True,
                    "platform_event_name": platform_event_name(dest.name, extension, overrides),
                    "params_key": EVENT_PARAMS_KEY.get(dest.name, "eventName"),
                }
            )
    return pl.DataFrame(
        rows,
        schema={
            "destination": pl.String,
            "event_name": pl.String,
            "by_policy": pl.Boolean,
            "allowlisted": pl.Boolean,
            "platform_event_name": pl.String,
            "params_key": pl.String,
        },
    )


HOST = "lower(regexp_extract(page_url, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#@]+)', 1))"
DOMAIN_OK = """(
    nullif(page_host, '') is null
    or len(list_filter(d.allowed_domains, lambda p: p = page_host
        or (starts_with(p, '*.') and ends_with(page_host, substr(p, 2))))) > 0
)"""
"""An event may leave: its page URL has no host, or one an allowed-domain pattern takes."""


def in_part(column: str = "event_seq", lo: str = "$part_lo", hi: str = "$part_hi") -> str:
    """SQL: ``column`` (an ``event_seq``) is in the part ``[lo, hi)``, a NULL bound being
    open. Events, their identity rows and payload rows are stored in about ``event_seq``
    order, so DuckDB skips the row groups outside a part instead of reading whole tables;
    with both bounds NULL the filter folds away."""
    return in_range(column, lo, hi)


ROUTED_SQL = f"""
select * exclude (domain_ok, by_policy, allowlisted),
    case
        when not domain_ok then 'domain_not_allowed'
        when not by_policy then 'not_routed_by_policy'
        when not allowlisted then 'not_in_allowlist'
        when platform_event_name is null then 'no_event_mapping'
    end as reason
from (
    select e.* exclude (page_host), d.destination, {{domain_ok}} as domain_ok,
        coalesce(r.by_policy, false) as by_policy, r.allowlisted,
        coalesce({event_name_override("d.destination", "e.platform_params")},
            r.platform_event_name) as platform_event_name
    from (
        select *, {{host}} as page_host from {{source}}
        where {in_part("event_seq", "part_lo", "part_hi")} and {in_window("ts", "from_s", "to_s")}
    ) e
    cross join (
        select distinct destination, params_key,
            (select list(pattern) from route_domains) as allowed_domains
        from route_rules
    ) d
    left join route_rules r on r.destination = d.destination and r.event_name = e.event_name
)"""
"""Every column of the events of ``{source}`` once per enabled destination, with its
platform event name and the reason it is not routed (NULL when it is)."""

ROUTES_SQL = f"""
create macro routed_events_in(part_lo, part_hi, from_s, to_s) as table
{ROUTED_SQL.format(source="events", domain_ok="{domain_ok}", host="{host}")};
create view routed_events as from routed_events_in(null, null, null, null);
create view event_routes as
select event_id, destination, platform_event_name, reason from routed_events;
create view event_routes_summary as
select destination, coalesce(reason, 'routed') as outcome, count(*) as events
from event_routes group by all order by destination, events desc;
"""
"""``routed_events_in(part_lo, part_hi, from_s, to_s)``: every event column once per
enabled destination, with its platform event name and the reason it is not routed (NULL
when it is), for one part (`in_part`) of the events in a time window. A table macro, so a
build's part and window filter the events scan itself (DuckDB does not push such filters
through the rules join of a view). ``routed_events`` holds all events, ``event_routes``
is its narrow form."""


def build_event_routes(conn: duckdb.DuckDBPyConnection, config: WorkspaceConfig) -> None:
    """Route every event for the enabled destinations: store the config's rules
    (``route_rules``, ``route_domains``) and define the routing views over them.

    Views, not tables: routing is a function of an event's name, page URL and
    ``platformParams`` and these small rule tables, so events loaded later are routed
    too, and a payload build reads one destination's routed events in the same scan as
    their columns, without writing a row per (event, destination) first.
    """
    rules = _destination_rules(config)
    domains = pl.DataFrame({"pattern": list(config.allowed_domains)}, schema={"pattern": pl.String})
    views = ROUTES_SQL.format(**_domain_checks(config))
    conn.register("new_route_rules", rules)
    conn.register("new_route_domains", domains)
    try:
        with transaction(conn):
            if has_table(conn, "event_routes"):
                conn.execute("drop table event_routes")
            conn.execute("create or replace table route_rules as from new_route_rules")
            conn.execute("create or replace table route_domains as from new_route_domains")
            for view in ("event_routes_summary", "event_routes", "routed_events"):
                conn.execute(f"drop view if exists {view}")
            conn.execute("drop macro table if exists routed_events_in")
            conn.execute(views)
    finally:
        conn.unregister("new_route_rules")
        conn.unregister("new_route_domains")


def _domain_checks(config: WorkspaceConfig) -> dict[str, str]:
    checked = bool(config.allowed_domains)
    return {"host": HOST if checked else "null", "domain_ok": DOMAIN_OK if checked else "true"}


def create_temp_routing(
    conn: duckdb.DuckDBPyConnection, config: WorkspaceConfig, name: str, source: str
) -> None:
    """A temp table macro ``name(part_lo, part_hi, from_s, to_s)`` routing the events of
    relation ``source`` (a few events copied aside) like ``routed_events_in``."""
    body = ROUTED_SQL.format(source=source, **_domain_checks(config))
    conn.execute(
        f"create or replace temp macro {name}(part_lo, part_hi, from_s, to_s) as table {body}"
    )
