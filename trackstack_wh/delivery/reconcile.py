"""Reconciliation: every routable event accounted for, from payload row to platform.

Per destination, day and event, each payload row lands in exactly one bucket, counting
only deliveries to one target (``live`` by default: the platforms themselves):
``delivered``; ``rejected`` by the platform (with its reason); ``aged_out`` (past the
platform's age limit before it could be sent); ``superseded`` (a CRM record's later row
carried its state); ``failed`` (retries exhausted, no run will resend it on its own);
``awaiting_retry`` (failed in a run, a later run resends it); ``in_flight`` (sent, its
answer never logged: the push stopped mid-retry); ``never_attempted`` (ready, never
sent; a dry run does not count); ``skipped`` (ineligible, with a reason); ``duplicate``.
Rows no event drives (PostHog's ``identify`` kind: person and group profiles) count under
the event name ``identify``. Everything is accounted for only when every ready row is
delivered, rejected, aged out or superseded; the counts must add up to the rows built,
routed events must all have rows, and the delivery log must point at no row that is gone.
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass

import duckdb
import polars as pl

from trackstack_wh.db import has_table, query_frame
from trackstack_wh.payloads.inspect import existing_tables

BUCKETS = ("delivered", "rejected", "aged_out", "superseded", "failed", "awaiting_retry",
           "in_flight", "never_attempted", "skipped", "duplicate")  # fmt: skip
UNSETTLED = {
    "failed": "failed (retries exhausted)",
    "awaiting_retry": "failed (a later run retries them)",
    "in_flight": "in flight (answer never logged)",
    "never_attempted": "never attempted",
}
"""Ready rows not yet delivered or finally answered (reconciliation is not ok), and how
``problems`` names them."""

ROWS_SQL = """
with payload as ({payload_union}),
state as (
    select destination, request_kind, event_id,
        arg_max_null(outcome, attempt) as outcome,
        arg_max_null(error_class, attempt) as error_class,
        arg_max_null(error_code, attempt) as error_code,
        arg_max_null(retry_at, attempt) as retry_at
    from delivery_log
    where mode = $mode and target = $target and outcome <> 'dry_run'
    group by all
)
select p.destination, p.request_kind, p.event_id,
    coalesce(e.event_name, p.request_kind) as event_name,
    p.event_time::date as day, p.status,
    case
        when p.status <> 'ready' then p.status
        when s.outcome = 'rejected' and s.error_code = 'not_sent' then 'aged_out'
        when s.outcome = 'failed' and s.retry_at is not null then 'awaiting_retry'
        when s.outcome in ('delivered', 'rejected', 'superseded', 'failed') then s.outcome
        when s.outcome = 'retry_scheduled' then 'in_flight'
        else 'never_attempted'
    end as bucket,
    case when p.status = 'skipped' then p.skip_reason
         when p.status = 'ready' then s.error_class end as reason,
    s.error_code
from payload p
left join events e using (event_id)
left join state s using (destination, request_kind, event_id)
where (e.event_id is not null or p.request_kind = 'identify')
  and ($since_s is null or p.event_time >= to_timestamp($since_s))
  and ($until_s is null or p.event_time < to_timestamp($until_s))
"""


@dataclass
class Reconciliation:
    """Counts by destination, day and event; ``problems`` lists what does not add up."""

    summary: pl.DataFrame
    reasons: pl.DataFrame
    problems: list[str]
    mode: str
    target: str
    _conn: duckdb.DuckDBPyConnection
    _rows_sql: str
    _params: dict[str, object]

    @property
    def ok(self) -> bool:
        return not self.problems

    def totals(self) -> pl.DataFrame:
        """One row per destination."""
        numbers = [c for c in self.summary.columns if c not in ("destination", "day", "event_name")]
        return self.summary.group_by("destination").agg(pl.col(numbers).sum()).sort("destination")

    def reasons_by_day(self) -> pl.DataFrame:
        """Rows per event day, destination, bucket and reason (skips and failures)."""
        return query_frame(
            self._conn,
            f"select day, destination, bucket, reason, count(*)::bigint as rows "
            f"from ({self._rows_sql}) where reason is not null group by all "
            "order by day, destination, bucket, reason",
            self._params,
        )

    def rows(
        self, destination: str, bucket: str | None = None, reason: str | None = None
    ) -> pl.DataFrame:
        """Drill down: the payload rows of one destination (and bucket, and reason)."""
        return query_frame(
            self._conn,
            f"select * from ({self._rows_sql}) where destination = $destination "
            "and ($bucket is null or bucket = $bucket) and ($reason is null or reason = $reason) "
            "order by day, event_name, event_id",
            {**self._params, "destination": destination, "bucket": bucket, "reason": reason},
        )

    @property
    def title(self) -> str:
        where = "" if self.target == "live" else f" -> {self.target}"
        return f"Reconciliation ({self.mode}{where})"

    def __repr__(self) -> str:
        status = "everything accounted for" if self.ok else "; ".join(self.problems)
        return f"{self.title}: {status}\n{self.totals()}"

    def _repr_html_(self) -> str:
        status = (
            "everything accounted for"
            if self.ok
            else "<br>".join(html.escape(p) for p in self.problems)
        )
        return f"<div><b>{html.escape(self.title)}</b>: {status}{self.totals()._repr_html_()}</div>"


def reconcile(
    conn: duckdb.DuckDBPyConnection,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    mode: str = "live",
    target: str = "live",
) -> Reconciliation:
    """Reconcile routed events, payload rows and delivery outcomes for events in
    ``[since, until)`` (``mode``: live, test or validate deliveries; ``target``: live,
    emulator or the URL prefix a push was pointed at)."""
    tables = existing_tables(conn)
    params: dict[str, object] = {
        "mode": mode,
        "target": target,
        "since_s": since.timestamp() if since else None,
        "until_s": until.timestamp() if until else None,
    }
    if not tables:
        union = (
            "select null::varchar as destination, null::varchar as request_kind, "
            "null::varchar as event_id, null::timestamptz as event_time, "
            "null::varchar as status, null::varchar as skip_reason limit 0"
        )
    else:
        union = " union all ".join(
            f"select destination, request_kind, event_id, event_time, status, skip_reason from {t}"
            for t in tables.values()
        )
    rows_sql = ROWS_SQL.format(payload_union=union)
    counts = ", ".join(f"count(*) filter (bucket = '{b}')::bigint as {b}" for b in BUCKETS)
    summary = conn.sql(
        f"select destination, day, event_name, count(*)::bigint as rows, "
        f"count(*) filter (status = 'ready')::bigint as ready, {counts} "
        f"from ({rows_sql}) group by all order by destination, day, event_name",
        params=params,
    ).pl()
    routed = (
        conn.sql(
            f"""
select r.destination, e.event_date as day, e.event_name,
    count(*)::bigint as routable,
    count(*) filter (p.event_id is null)::bigint as not_built
from event_routes r
join events e using (event_id)
left join (select distinct destination, event_id from ({union})) p using (destination, event_id)
where r.reason is null and r.destination in (select unnest($destinations::varchar[]))
  and ($since_s is null or e.ts >= to_timestamp($since_s))
  and ($until_s is null or e.ts < to_timestamp($until_s))
group by all""",
            params={
                "destinations": list(tables),
                "since_s": params["since_s"],
                "until_s": params["until_s"],
            },
        ).pl()
        if tables and has_table(conn, "route_rules")
        else None
    )
    if routed is not None and routed.height:
        summary = summary.join(routed, on=["destination", "day", "event_name"], how="full",
                               coalesce=True).fill_null(0)  # fmt: skip
    reasons = conn.sql(
        f"select destination, bucket, reason, error_code, count(*)::bigint as rows "
        f"from ({rows_sql}) where reason is not null group by all "
        "order by destination, bucket, rows desc",
        params=params,
    ).pl()
    problems = _problems(conn, summary, union, params)
    if has_table(conn, "route_rules"):
        unbuilt = conn.execute(
            "select distinct destination from event_routes where reason is null "
            "and destination not in (select unnest($built::varchar[])) order by 1",
            {"built": list(tables)},
        ).fetchall()
        problems += [f"{d}: routed events but no payload table (run build_payloads)"
                     for (d,) in unbuilt]  # fmt: skip
    return Reconciliation(summary, reasons, problems, mode, target, conn, rows_sql, params)


def _problems(
    conn: duckdb.DuckDBPyConnection,
    summary: pl.DataFrame,
    union: str,
    params: dict[str, object],
) -> list[str]:
    problems = []
    if summary.height:
        buckets = summary.select(pl.sum_horizontal(list(BUCKETS))).to_series()
        if (buckets != summary["rows"]).any():
            problems.append("bucket counts do not add up to the payload rows")
        open_rows = (
            summary.group_by("destination").agg(pl.col(list(UNSETTLED)).sum()).sort("destination")
        )
        for row in open_rows.iter_rows(named=True):
            counts = [f"{row[b]:,} {label}" for b, label in UNSETTLED.items() if row[b]]
            if counts:
                problems.append(
                    f"{row['destination']}: ready rows not delivered: " + ", ".join(counts)
                )
        if "not_built" in summary.columns:
            for dest, n in summary.group_by("destination").agg(pl.col("not_built").sum()).rows():
                if n:
                    problems.append(f"{dest}: {n} routed event(s) without payload rows "
                                    "(run build_payloads)")  # fmt: skip
    orphans = conn.execute(
        f"""
select l.destination, count(distinct l.event_id)
from delivery_log l
left join ({union}) p using (destination, request_kind, event_id)
where p.event_id is null and l.mode = $mode and l.target = $target and l.outcome = 'delivered'
group by all""",
        {"mode": params["mode"], "target": params["target"]},
    ).fetchall()
    problems += [f"{d}: {n} delivered event(s) whose payload row is gone" for d, n in orphans]
    accepted = conn.execute(
        """
select destination, sum(rows) filter (http_status = 200)::bigint,
    sum(platform_accepted)::bigint
from delivery_requests
where platform_accepted is not null and mode = $mode and target = $target
group by all""",
        {"mode": params["mode"], "target": params["target"]},
    ).fetchall()
    problems += [
        f"{d}: platform reported {got:,} events received for {sent:,} sent in accepted requests"
        for d, sent, got in accepted
        if sent != got
    ]
    return problems
