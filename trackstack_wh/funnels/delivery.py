"""The funnel beside delivery: per step and ad destination, what became of the event
that took each person to the step (routed, payload rows per reconciliation bucket, top
skip and rejection reasons) and the match keys of what was sent. Buckets come from the
same SQL as ``wh.reconcile()`` (``trackstack_wh.delivery.reconcile.ROWS_SQL``)."""

from __future__ import annotations

import duckdb
import polars as pl

from trackstack_wh.db import has_table
from trackstack_wh.delivery.reconcile import BUCKETS, ROWS_SQL
from trackstack_wh.payloads.inspect import existing_tables

SENT = ("delivered", "rejected", "superseded", "failed", "awaiting_retry", "in_flight")
"""Buckets of rows that left for the platform (an aged-out row never did)."""
STRONG_KEYS = (
    "em", "hashedEmail", "SHA256_EMAIL", "email",
    "ph", "hashedPhoneNumber", "phone", "phone_number",
    "external_id",
    "fbclid", "gclid", "li_fat_id", "ttclid", "sc_cid", "rdt_cid", "click_id",
)  # fmt: skip
"""Match keys that identify a person on their own: email, phone, user ID or click ID."""
EMAIL_KEYS = ("em", "hashedEmail", "SHA256_EMAIL", "email")


def ad_tables(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Ad destinations with payload tables (``capi_*``), by destination."""
    return {d: t for d, t in existing_tables(conn).items() if t.startswith("capi_")}


def delivery_sql(
    conn: duckdb.DuckDBPyConnection, qualifying: str, mode: str, target: str
) -> tuple[str, dict[str, object]] | None:
    """SQL over ``qualifying`` (``step_order, step, people, event_id``: one row per
    person and step reached) giving one row per step and ad destination; None without
    ad payload tables."""
    tables = ad_tables(conn)
    if not tables:
        return None
    union = " union all ".join(
        f"select destination, request_kind, event_id, event_time, status, skip_reason from {t} "
        f"where event_id in (select event_id from {qualifying})"
        for t in tables.values()
    )
    rows = ROWS_SQL.format(payload_union=union)
    fields = _match_key_fields(conn) if has_table(conn, "match_key_patterns") else set()
    key_union = " union all ".join(
        f"select '{d}' as destination, event_id, "
        f"len(list_intersect(match_keys.{d}, $strong)) > 0 as strong, "
        f"len(list_intersect(match_keys.{d}, $email)) > 0 as with_email "
        f"from event_match_keys where event_id in (select event_id from {qualifying})"
        for d in tables
        if d in fields
    ) or (
        "select null::varchar as destination, null::varchar as event_id, "
        "null::boolean as strong, null::boolean as with_email where false"
    )
    counts = ", ".join(f"count(row_event) filter (bucket = '{b}')::bigint as {b}" for b in BUCKETS)
    sent = "bucket in (" + ", ".join(f"'{b}'" for b in SENT) + ")"
    query = f"""
with q as (select * from {qualifying}),
dests(destination) as (select unnest($destinations::varchar[])),
routes as (
    select destination, event_id from event_routes
    where reason is null and event_id in (select event_id from q)
),
r as ({rows}),
k as ({key_union}),
per_row as (
    select q.step_order, q.step, q.people, d.destination, q.event_id,
        rt.event_id is not null as routed
    from q cross join dests d
    left join routes rt on rt.event_id = q.event_id and rt.destination = d.destination
),
joined as (
    select p.step_order, p.step, p.people, p.destination, p.event_id, p.routed, r.bucket,
        r.reason, r.event_id as row_event, k.strong, k.with_email
    from per_row p
    left join r on r.event_id = p.event_id and r.destination = p.destination
    left join k on k.event_id = p.event_id and k.destination = p.destination
),
reasons as (
    select step_order, destination,
        string_agg(bucket || ': ' || reason || ' (' || n || ')', '; ' order by n desc, reason)
            filter (pos <= 3) as top_reasons
    from (
        select step_order, destination, bucket, reason, count(*) as n,
            row_number() over (partition by step_order, destination
                               order by count(*) desc, bucket, reason) as pos
        from joined where reason is not null
        group by step_order, destination, bucket, reason
    )
    group by step_order, destination
),
counted as (
    select step_order, step, destination, any_value(people) as people,
        count(distinct event_id) filter (routed)::bigint as routed,
        count(row_event)::bigint as rows,
        count(row_event) filter ({sent})::bigint as sent,
        {counts},
        count(row_event) filter ({sent} and with_email)::bigint as sent_with_email,
        count(row_event) filter ({sent} and strong)::bigint as sent_with_keys
    from joined
    group by step_order, step, destination
)
select c.*, c.sent_with_keys / nullif(c.sent, 0) as key_coverage, s.top_reasons
from counted c left join reasons s using (step_order, destination)
where c.routed > 0 or c.rows > 0
order by c.step_order, c.destination"""
    params: dict[str, object] = {
        "mode": mode,
        "target": target,
        "since_s": None,
        "until_s": None,
        "destinations": list(tables),
    }
    if "$strong" in key_union:
        params.update(strong=list(STRONG_KEYS), email=list(EMAIL_KEYS))
    return query, params


def _match_key_fields(conn: duckdb.DuckDBPyConnection) -> set[str]:
    kind = conn.execute(
        "select data_type from information_schema.columns "
        "where table_name = 'event_match_keys' and column_name = 'match_keys'"
    ).fetchall()
    if not kind:
        return set()
    return {part.split(" ")[0].strip('"') for part in kind[0][0][7:-1].split(", ")}


def empty_delivery() -> pl.DataFrame:
    """The delivery table's columns, without rows (no ad destination built yet)."""
    ints = ["people", "routed", "rows", "sent", *BUCKETS, "sent_with_email", "sent_with_keys"]
    return pl.DataFrame(
        schema={
            "step_order": pl.Int32,
            "step": pl.String,
            "destination": pl.String,
            **dict.fromkeys(ints, pl.Int64),
            "key_coverage": pl.Float64,
            "top_reasons": pl.String,
        }  # fmt: skip
    )
