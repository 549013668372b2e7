"""Which events go to which destination, under which name, and why not when they don't.

Set-based: one ``event_routes`` row per (event, enabled destination) with ``routed``,
the ``reason`` when not routed, and the destination's event name (or conversion rule /
action ID). Policy, from the contract's default routes:

- ad destinations take events whose default routes include ads (acquisition, revenue and
  the rest of the funnel); Refund, Chargeback, Churned and product extensions only when a
  destination lists them in ``events``;
- CRM destinations take events routed to CRM (all canonical ones by default);
- a destination's ``events`` list, when given, is an allowlist;
- an event whose ``pageUrl`` host is outside ``workspace.allowed_domains`` (when set) goes
  nowhere (``domain_not_allowed``); server-side events without a page URL are not
  affected;
- an event the destination has no name or ID for is ``no_event_mapping``;
- a non-canonical (extension) event goes only where a destination lists it.
"""

from __future__ import annotations

import duckdb
import polars as pl

from trackstack_wh.contract import CANONICAL_EVENTS, Route
from trackstack_wh.destinations.config import WorkspaceConfig
from trackstack_wh.destinations.mapping import (
    CRM_DESTINATIONS,
    EVENT_PARAMS_KEY,
    ID_MAPPED,
    platform_event_name,
)

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
        overrides = dict(dest.event_names)
        if dest.name in ID_MAPPED:
            overrides |= dest.settings.get(ID_MAPPED[dest.name], {})
        listed = set(dest.events or ())
        for event in CANONICAL_EVENTS:
            rows.append(
                {
                    "destination": dest.name,
                    "event_name": event.name,
                    "by_policy": route in event.default_routes or event.name in listed,
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


def build_event_routes(conn: duckdb.DuckDBPyConnection, config: WorkspaceConfig) -> None:
    """(Re)build ``event_routes`` for every event and enabled destination."""
    rules = _destination_rules(config)
    domains = pl.DataFrame({"pattern": list(config.allowed_domains)}, schema={"pattern": pl.String})
    conn.register("route_rules", rules)
    conn.register("allowed_domains", domains)
    try:
        conn.execute(
            """
create or replace table event_routes as
with hosts as (
    select event_id, event_name, platform_params,
        lower(regexp_extract(page_url, '^[a-zA-Z][a-zA-Z0-9+.-]*://([^/:?#@]+)', 1)) as host
    from events
), checked as (
    select event_id, event_name, platform_params,
        not $check_domains or nullif(host, '') is null or exists (
            select 1 from allowed_domains a
            where host = a.pattern
               or (starts_with(a.pattern, '*.') and ends_with(host, substr(a.pattern, 2)))
        ) as domain_ok
    from hosts
), destinations as (select distinct destination, params_key from route_rules)
select e.event_id, d.destination, mapped.platform_event_name,
    case
        when not e.domain_ok then 'domain_not_allowed'
        when r.event_name is null or not r.by_policy then 'not_routed_by_policy'
        when not r.allowlisted then 'not_in_allowlist'
        when mapped.platform_event_name is null then 'no_event_mapping'
    end as reason
from checked e
cross join destinations d
left join route_rules r on r.destination = d.destination and r.event_name = e.event_name
cross join lateral (
    select coalesce(
        case when e.platform_params is not null then json_extract_string(
            e.platform_params, '$.' || d.destination || '.' || d.params_key) end,
        r.platform_event_name) as platform_event_name
) mapped
""",
            {"check_domains": bool(config.allowed_domains)},
        )
        conn.execute(
            "create or replace view event_routes_summary as "
            "select destination, coalesce(reason, 'routed') as outcome, count(*) as events "
            "from event_routes group by all order by destination, events desc"
        )
    finally:
        for name in ("route_rules", "allowed_domains"):
            conn.unregister(name)
