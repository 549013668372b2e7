"""Read the payload tables: per-destination summaries and request previews."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import duckdb

from trackstack_wh.config import Destination
from trackstack_wh.payloads.registry import PAYLOAD_TABLES
from trackstack_wh.payloads.requests import ENDPOINTS, HttpRequest, plan_requests


def existing_tables(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Destination -> payload table, for the tables built so far."""
    present = {
        name
        for (name,) in conn.execute(
            "select table_name from duckdb_tables() where not temporary"
        ).fetchall()
    }
    return {d: t for d, t in PAYLOAD_TABLES.items() if t in present}


NOT_ROUTED = "not_routed"
"""The summary status of events routed to no destination's payloads (reason in
``skip_reason``: see ``trackstack_wh.destinations.routing.ROUTE_REASONS``)."""
NOT_ROUTED_SQL = f"""
select destination, null::varchar as request_kind, '{NOT_ROUTED}' as status,
    outcome as skip_reason, events::bigint as rows
from event_routes_summary where outcome <> 'routed'"""


def summary_sql(tables: dict[str, str], *, routes: bool = False) -> str:
    """Counts by destination, request kind, status and skip reason; with ``routes``
    (the routing views exist), also the events routed nowhere, by reason
    (status ``not_routed``)."""
    empty = (
        "select null::varchar as destination, null::varchar as request_kind, "
        "null::varchar as status, null::varchar as skip_reason, 0::bigint as rows limit 0"
    )
    parts = " union all ".join(
        f"select destination, request_kind, status, skip_reason from {t}" for t in tables.values()
    )
    built = (
        f"select destination, request_kind, status, skip_reason, count(*)::bigint as rows "
        f"from ({parts}) group by all"
        if tables
        else empty
    )
    if routes:
        built = f"({built}) union all ({NOT_ROUTED_SQL})"
    return f"from ({built}) order by destination, request_kind, status, rows desc"


def preview_requests(
    conn: duckdb.DuckDBPyConnection,
    dest: Destination,
    *,
    since: dt.datetime | None = None,
    limit: int | None = None,
    reveal_secrets: bool = False,
) -> list[HttpRequest]:
    """The requests that sending a destination's ready rows would make, without sending.

    Upsert endpoints (CRM records) carry only the latest row per record key. Each
    request's ``overrides`` shows, per event, the fields ``platformParams`` set.
    """
    table = PAYLOAD_TABLES[dest.name]
    requests: list[HttpRequest] = []
    for (kind,) in conn.execute(
        f"select distinct request_kind from {table} where status = 'ready' order by 1"
    ).fetchall():
        latest_only = (
            "qualify row_number() over (partition by dedup_key "
            "order by event_time desc, event_id desc) = 1"
            if ENDPOINTS[(dest.name, kind)].upsert
            else ""
        )
        rows = conn.execute(
            f"""
select event_id, payload::varchar, overrides::varchar from {table}
where status = 'ready' and request_kind = $kind
  and ($since_s is null or event_time >= to_timestamp($since_s))
{latest_only}
order by event_time, event_id
limit $limit""",
            {
                "kind": kind,
                "since_s": since.timestamp() if since else None,
                "limit": limit if limit is not None else 2**62,
            },
        ).fetchall()
        changed = {event_id: json.loads(o) for event_id, _, o in rows if o is not None}
        planned = plan_requests(
            dest, kind, [(event_id, payload) for event_id, payload, _ in rows],
            reveal_secrets=reveal_secrets,
        )  # fmt: skip
        requests += [
            dataclasses.replace(r, overrides={e: changed[e] for e in r.event_ids if e in changed})
            for r in planned
        ]
    return requests
