"""One event ID through every table that mentions it: where it came from (file and line,
the sink's edge batch), or its quarantine and duplicate records; its fields, quality,
identity and stitched keys; each destination's routing decision, payload rows, delivery
attempts and reconciliation bucket. Every value is bound (``$id``); only table names of
the package's own registry are formatted into the SQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb

from trackstack_wh.db import query_frame
from trackstack_wh.delivery.reconcile import ROWS_SQL
from trackstack_wh.destinations.routing import ROUTE_REASONS
from trackstack_wh.payloads.inspect import existing_tables
from trackstack_wh.trace.model import (
    DestinationTrace,
    EventTrace,
    PayloadTrace,
    Row,
    parsed_json,
    plain,
    row_state,
)

Mask = Callable[[str], str]
RAW_CHARS = 2000
"""A quarantined record's raw text is shown up to this many characters."""
LIST_LIMIT = 50
"""At most this many quarantine, duplicate or identify records per ID."""
SKIP_REASONS = {
    "too_old": "older than the platform's age limit when built",
    "future_timestamp": "the event time is ahead of the build clock",
    "consent_denied": "consent ad_user_data denied",
    "missing_value": "a revenue event without a value",
    "missing_currency": "a value without a currency (and no workspace.default_currency)",
    "no_match_keys": "no identifier the platform can match on",
    "missing_user_agent": "a website event without a user agent",
    "missing_event_source_url": "a website event without a page URL",
    "conflicting_click_ids": "gbraid and wbraid without a gclid",
    "missing_transaction_id": "no transactionId / orderId",
    "original_conversion_not_found": "the refunded purchase was never routed here",
    "no_contact_identifier": "no email or other contact identifier",
    "missing_last_name": "the CRM record needs a last name",
    "missing_company": "a Salesforce Lead needs a company",
    "missing_company_id": "a churn names no company (companyId, or its domain) to update",
}
"""What each payload skip reason means (README, Destinations and payloads)."""

SOURCE_SQL = """
select e.batch_id, b.source_uri, b.file_format, e.line_no, e.event_seq, e.input_shape,
    e.received_at, b.ingested_at, e.ts_inferred, e.event_id_generated, e.edge_batch_id,
    e.project_id, e.edge_received_at
from events e left join ingest_batches b using (batch_id)
where e.event_id = $id"""

EDGE_SQL = """
select batch_id, segment, project_id, key_kind, received_at, origin, sdk_version,
    user_agent, events, body_bytes
from sink_batches where batch_id = $edge"""

ATTEMPTS_SQL = """
select l.destination, l.request_kind, l.mode, l.target, l.attempt, l.sent_at, l.latency_ms,
    l.http_status, l.outcome, l.error_class, l.error_code, l.error_message, l.trace_id,
    l.retry_at, l.request_id, r.rows as request_rows, r.bytes as request_bytes,
    r.platform_accepted
from delivery_log l
left join delivery_requests r on r.request_id = l.request_id
    and r.destination = l.destination and r.request_kind = l.request_kind
where l.event_id = $id
order by l.destination, l.request_kind, l.sent_at, l.attempt"""

DUPLICATES_SQL = """
select d.batch_id, b.source_uri, d.line_no, d.first_batch_id,
    f.source_uri as first_source_uri, d.first_line_no, d.detected_at
from duplicates d
left join ingest_batches b on b.batch_id = d.batch_id
left join ingest_batches f on f.batch_id = d.first_batch_id
where d.event_id = $id
order by d.detected_at, d.batch_id, d.line_no
limit $n"""

QUARANTINE_SQL = """
select batch_id, source_uri, line_no, reason, reasons, detail, quarantined_at,
    left(raw, $chars) as raw, length(raw) as raw_chars
from quarantine
where contains(raw, $id)
order by quarantined_at, batch_id, line_no
limit $n"""
"""Quarantine has no ID column (a record may be quarantined before its ID is read): a
record matches when its raw text contains the ID."""

REPLAYS_SQL = """
select m.replay_id, r.replayed_at, r.rule, m.batch_id, m.line_no, m.moved_to
from quarantine_moves m left join quarantine_replays r using (replay_id)
where m.event_id = $id
order by m.replay_id"""

IDENTIFY_SQL = """
select i.batch_id, b.source_uri, i.line_no, i.person_key, i.person_key_kind,
    min(i.seen_at) as seen_at, list(i.trait order by i.trait) filter (i.trait is not null) as traits
from identities i left join ingest_batches b using (batch_id)
where i.identify_id = $id
group by all
limit $n"""

OUTCOMES_SQL = """
with latest as (
    select destination, request_kind, event_id, arg_max(outcome, last_sent_at) as outcome
    from delivery_status
    where event_id in (select unnest($ids::varchar[])) and outcome <> 'dry_run'
    group by all
)
select p.event_id, p.destination, p.status, p.skip_reason, l.outcome
from ({payload_union}) p
left join latest l using (destination, request_kind, event_id)
order by p.event_id, p.destination, p.request_kind"""

PAYLOAD_SQL = """
select request_kind, platform_event_name, dedup_key, status, skip_reason, duplicate_of,
    warnings, payload::varchar as payload, key_sources::varchar as key_sources, built_at
from {table} where event_id = $id order by request_kind"""


class Lookup:
    """Queries about one warehouse, masking every text with ``mask``."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, mask: Mask) -> None:
        self.conn = conn
        self.mask = mask
        self.relations = {
            name
            for (name,) in conn.execute(
                "select table_name from duckdb_tables() where not temporary "
                "union all select view_name from duckdb_views() where not temporary"
            ).fetchall()
        }
        self.payload_tables = existing_tables(conn)

    def rows(self, sql: str, **params: Any) -> list[Row]:
        """A query's rows as JSON-ready, masked dicts."""
        frame = query_frame(self.conn, sql, params)
        return [plain(row, self.mask) for row in frame.to_dicts()]

    def has(self, *names: str) -> bool:
        return all(name in self.relations for name in names)

    def event_trace(self, event_id: str) -> EventTrace | None:
        """Everything about ``event_id``, or None when no table knows it."""
        trace = EventTrace(event_id, [])
        sources = self.rows(SOURCE_SQL, id=event_id)
        if sources:
            trace.found_in.append("events")
            trace.source = sources[0]
            if trace.source["edge_batch_id"] is not None and self.has("sink_batches"):
                edge = self.rows(EDGE_SQL, edge=trace.source["edge_batch_id"])
                trace.source["edge_batch"] = edge[0] if edge else None
            trace.event = self._event(event_id)
            self._quality(trace)
            self._identity(trace)
            trace.destinations = self._destinations(trace)
        trace.duplicates = self.rows(DUPLICATES_SQL, id=event_id, n=LIST_LIMIT)
        trace.quarantine = self.quarantined(event_id)
        if self.has("quarantine_moves", "quarantine_replays"):
            trace.replays = self.rows(REPLAYS_SQL, id=event_id)
        if self.has("identities"):
            trace.identify = self.rows(IDENTIFY_SQL, id=event_id, n=LIST_LIMIT)
        for name, found in (("duplicates", trace.duplicates), ("quarantine", trace.quarantine),
                            ("identities", trace.identify)):  # fmt: skip
            if found:
                trace.found_in.append(name)
        return trace if trace.found_in else None

    def quarantined(self, text: str) -> list[Row]:
        """Quarantined records whose raw text contains ``text``."""
        return self.rows(QUARANTINE_SQL, id=text, chars=RAW_CHARS, n=LIST_LIMIT)

    def outcomes(self, event_ids: list[str]) -> dict[str, dict[str, str]]:
        """Per event and destination, its payload rows in a word (``row_state``), for
        many events in one query."""
        union = " union all ".join(
            f"select destination, request_kind, event_id, status, skip_reason from {table} "
            "where event_id in (select unnest($ids::varchar[]))"
            for table in self.payload_tables.values()
        )
        if not union or not event_ids:
            return {}
        found = self.rows(OUTCOMES_SQL.format(payload_union=union), ids=event_ids)
        out: dict[str, dict[str, str]] = {}
        for row in found:
            state = row_state(row["status"], row["skip_reason"], row["outcome"])
            per_event = out.setdefault(row["event_id"], {})
            known = per_event.get(row["destination"])
            per_event[row["destination"]] = state if known in (None, state) else f"{known}, {state}"
        order = list(self.payload_tables)
        return {
            e: dict(sorted(d.items(), key=lambda kv: order.index(kv[0]))) for e, d in out.items()
        }

    def _event(self, event_id: str) -> Row:
        """The events row's non-empty columns (``properties`` only by its keys)."""
        rows = self.rows(
            "select * exclude (properties), json_keys(properties) as property_keys "
            "from events where event_id = $id",
            id=event_id,
        )
        event = {k: v for k, v in rows[0].items() if v is not None and v != []}
        for column in ("platform_params", "consent"):
            if isinstance(event.get(column), str):
                event[column] = parsed_json(event[column], self.mask)
        return event

    def _quality(self, trace: EventTrace) -> None:
        if not self.has("event_quality"):
            trace.notes.append("not scored yet: run wh.refresh_quality()")
            return
        found = self.rows(
            "select score, score_stitched, components, warnings from event_quality "
            "where event_id = $id",
            id=trace.event_id,
        )
        if not found:
            trace.notes.append("not scored yet (loaded after the last wh.refresh_quality())")
            return
        quality = found[0]
        quality["components"] = {k: v for k, v in (quality["components"] or {}).items() if v}
        trace.quality = quality

    def _identity(self, trace: EventTrace) -> None:
        identity: Row = {}
        if self.has("event_identity"):
            found = self.rows(
                "select identity_issues, rules_version from event_identity where event_id = $id",
                id=trace.event_id,
            )
            identity.update(found[0] if found else {})
        if self.has("person_rows"):
            found = self.rows(
                "select person, linked_by from person_rows "
                "where row_kind = 'event' and row_id = $id",
                id=trace.event_id,
            )
            identity.update(found[0] if found else {})
        if self.has("event_stitch"):
            found = self.rows(
                "select sources::varchar as stitched, score_gain from event_stitch "
                "where event_id = $id",
                id=trace.event_id,
            )
            if found:
                identity["stitched"] = parsed_json(found[0]["stitched"], self.mask)
                identity["stitch_score_gain"] = found[0]["score_gain"]
        trace.identity = identity or None

    def _destinations(self, trace: EventTrace) -> list[DestinationTrace]:
        routes: dict[str, Row] = {}
        if self.has("event_routes"):
            routes = {
                r["destination"]: r
                for r in self.rows(
                    "select destination, platform_event_name, reason from event_routes "
                    "where event_id = $id",
                    id=trace.event_id,
                )
            }
        else:
            trace.notes.append("not routed yet: run wh.build_payloads()")
        match_keys = self._match_keys(trace.event_id)
        attempts = self.rows(ATTEMPTS_SQL, id=trace.event_id)
        buckets = self._buckets(trace.event_id, attempts)
        names = list(routes) + [d for d in self.payload_tables if d not in routes]
        names += sorted({a["destination"] for a in attempts} - set(names))
        out = []
        for name in names:
            route = routes.get(name)
            reason = route["reason"] if route else None
            dest = DestinationTrace(
                destination=name,
                routed=None if route is None else reason is None,
                platform_event_name=route["platform_event_name"] if route else None,
                route_reason=reason,
                route_detail=ROUTE_REASONS.get(reason) if reason else None,
                match_keys=match_keys.get(name),
            )
            dest.payloads = self._payloads(trace.event_id, name, attempts, buckets)
            out.append(dest)
        return out

    def _match_keys(self, event_id: str) -> dict[str, list[str]]:
        if not self.has("event_match_keys"):
            return {}
        found = self.rows(
            "select match_keys from event_match_keys where event_id = $id", id=event_id
        )
        keys = found[0]["match_keys"] if found else None
        return dict(keys) if isinstance(keys, dict) else {}

    def _payloads(
        self,
        event_id: str,
        destination: str,
        attempts: list[Row],
        buckets: dict[tuple[str, str], list[Row]],
    ) -> list[PayloadTrace]:
        table = self.payload_tables.get(destination)
        rows = self.rows(PAYLOAD_SQL.format(table=table), id=event_id) if table else []
        out = []
        for row in rows:
            kind = row["request_kind"]
            tried = [
                {k: v for k, v in a.items() if k not in ("destination", "request_kind")}
                for a in attempts
                if a["destination"] == destination and a["request_kind"] == kind
            ]
            reason = row["skip_reason"]
            out.append(
                PayloadTrace(
                    request_kind=kind,
                    status=row["status"],
                    skip_reason=reason,
                    skip_detail=SKIP_REASONS.get(reason) if reason else None,
                    duplicate_of=row["duplicate_of"],
                    platform_event_name=row["platform_event_name"],
                    dedup_key=row["dedup_key"],
                    warnings=row["warnings"] or [],
                    key_sources=parsed_json(row["key_sources"], self.mask),
                    payload=parsed_json(row["payload"], self.mask),
                    built_at=row["built_at"],
                    attempts=tried,
                    reconciliation=buckets.get((destination, kind), []),
                )
            )
        return out

    def _buckets(self, event_id: str, attempts: list[Row]) -> dict[tuple[str, str], list[Row]]:
        """Per (destination, request kind): the payload row's reconciliation bucket for
        live deliveries and for each other (mode, target) it was sent to, by the rules
        of ``wh.reconcile()``."""
        union = " union all ".join(
            "select destination, request_kind, event_id, event_time, status, skip_reason "
            f"from {table} where event_id = $event_id"
            for table in self.payload_tables.values()
        )
        if not union:
            return {}
        sent = {(a["destination"], a["request_kind"], a["mode"], a["target"]) for a in attempts}
        pairs = dict.fromkeys([("live", "live")] + [(a["mode"], a["target"]) for a in attempts])
        out: dict[tuple[str, str], list[Row]] = {}
        for mode, target in pairs:
            found = self.rows(
                "select destination, request_kind, bucket, reason, error_code "
                f"from ({ROWS_SQL.format(payload_union=union)})",
                event_id=event_id, mode=mode, target=target, since_s=None, until_s=None,
            )  # fmt: skip
            for row in found:
                key = (row.pop("destination"), row.pop("request_kind"))
                if (mode, target) == ("live", "live") or (*key, mode, target) in sent:
                    out.setdefault(key, []).append({"mode": mode, "target": target, **row})
        return out
