"""``trace``: find what to trace (an event ID, a person's email, a transaction ID) and
trace it. An email is normalized and hashed as identity does (``identity.hashed``), so
an event that sent it in another case, with spaces, or already hashed is found too, and
so are the other events of the person it belongs to (``person_rows``)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import duckdb

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.config.stitching import CONVERSION_EVENTS
from trackstack_wh.delivery.masking import Masker
from trackstack_wh.errors import NotFoundError, UsageError
from trackstack_wh.identity import Key, hashed, normalize
from trackstack_wh.trace.lookup import Lookup
from trackstack_wh.trace.model import EventTrace, Row, Trace

DEFAULT_LIMIT = 20
"""Conversions listed for an email or a transaction ID."""

MATCH_COLUMNS = (
    "e.event_id, e.ts, e.event_name, e.stage, e.value, e.currency, e.transaction_id, "
    "e.batch_id, e.line_no"
)

OWN_HASHED_SQL = (
    "select event_id, 'email' as matched_by from event_identity where email_sha256 = $hash"
)
OWN_TEXT_SQL = (
    "select event_id, 'email' as matched_by from events where lower(trim(email)) = $email"
)
EMAIL_SQL = f"""
with own as ({{own}}),
people as ({{people}}),
found as (
    select event_id, min(matched_by) as matched_by
    from (from own union all from people) group by event_id
)
select {MATCH_COLUMNS}, f.matched_by
from found f join events e using (event_id)
where $any_event or e.event_name in (select unnest($names::varchar[]))
order by e.ts desc, e.event_seq desc
limit $n"""
"""Events that carry the email (``{own}``: hashed as identity hashes it, or as sent),
and the events of the persons the email belongs to (``{people}``)."""

PEOPLE_SQL = """
select row_id as event_id, 'person ' || person as matched_by
from person_rows
where row_kind = 'event' and person in (
    select person from person_rows where email = $email and person is not null)"""
NO_PEOPLE_SQL = "select null::varchar as event_id, null::varchar as matched_by limit 0"

TRANSACTION_SQL = f"""
select {MATCH_COLUMNS},
    case when e.transaction_id = $t then 'transaction_id' else 'order_id' end as matched_by
from events e
where e.transaction_id = $t or e.order_id = $t
order by e.ts desc, e.event_seq desc
limit $n"""


def masker(config: WorkspaceConfig) -> Masker:
    """Masks (``***``) every credential the config's enabled destinations send
    (``delivery.plan.run_masker``, as the delivery log does) and every sink project key
    set in the environment."""
    from trackstack_wh.delivery.plan import run_masker  # pulls in httpx: only when tracing

    mask = run_masker(config.enabled())
    for project in config.projects.values():
        for names in project.key_envs.values():
            for name in names:
                mask.add(os.environ.get(name))
    return mask


def trace(
    conn: duckdb.DuckDBPyConnection,
    config: WorkspaceConfig,
    event_id: str | None = None,
    *,
    email: str | None = None,
    transaction_id: str | None = None,
    limit: int = DEFAULT_LIMIT,
    trace_all: bool = False,
) -> Trace:
    """Trace one event ID, or the conversions of an email or a transaction ID (most
    recent first, at most ``limit``; in full: the most recent, or all with
    ``trace_all``; every one for a transaction ID). Raises ``NotFoundError`` naming what
    was searched when nothing matches."""
    given = [v for v in (event_id, email, transaction_id) if v is not None]
    if len(given) != 1 or not given[0].strip():
        raise UsageError("trace needs exactly one of an event ID, email= or transaction_id=")
    if limit < 1:
        raise UsageError(f"limit must be at least 1, not {limit}")
    lookup = Lookup(conn, masker(config))
    if event_id is not None:
        return _by_event_id(lookup, event_id.strip())
    if email is not None:
        return _by_email(lookup, email, limit, trace_all)
    assert transaction_id is not None
    return _by_transaction(lookup, transaction_id.strip(), limit)


def _by_event_id(lookup: Lookup, event_id: str) -> Trace:
    found = lookup.event_trace(event_id)
    searched = f"event ID {event_id!r}"
    if found is None:
        raise NotFoundError(
            f"no event with ID {event_id!r}: searched events, duplicates, identify records "
            "and the raw text of quarantined records"
        )
    return Trace(searched, {"event_id": event_id}, [found])


def _by_email(lookup: Lookup, email: str, limit: int, trace_all: bool) -> Trace:
    normalized, problem = normalize(Key.EMAIL, email)
    digest, _ = hashed(Key.EMAIL, email)
    if normalized is None or digest is None:
        raise UsageError(f"{email!r} is not an email address ({problem or 'empty'})")
    query: Row = {"email": lookup.mask(normalized), "email_sha256": digest}
    searched = f"email {lookup.mask(normalized)!r} (sha256 {digest[:12]}...)"
    params: Row = {"email": normalized, "n": limit}
    own = OWN_TEXT_SQL
    if lookup.has("event_identity"):
        own = f"{OWN_HASHED_SQL} union all {OWN_TEXT_SQL}"
        params["hash"] = digest
    people = PEOPLE_SQL if lookup.has("person_rows") else NO_PEOPLE_SQL
    sql = EMAIL_SQL.format(own=own, people=people)
    matches = _matches(lookup, sql, params)
    notes = []
    if not matches and not lookup.has("person_rows") and not lookup.has("event_identity"):
        notes.append("identity not built yet: run wh.refresh_quality() to match hashed emails")
    if matches and not any(m["is_conversion"] for m in matches):
        notes.append("no conversions: the person's latest events are listed instead")
    quarantined = lookup.quarantined(normalized)
    if not matches and not quarantined:
        raise NotFoundError(
            f"no event or quarantined record for {searched}: searched events by email and "
            "its hash (and the person it belongs to) and the raw text of quarantined records"
        )
    chosen = matches if trace_all else matches[:1]
    events = _traces(lookup, (m["event_id"] for m in chosen))
    return Trace(searched, query, events, matches, quarantined, notes)


def _matches(lookup: Lookup, sql: str, params: Row) -> list[Row]:
    """Conversions first; when there are none, the latest events of any name."""
    rows = lookup.rows(sql, **params, any_event=False, names=list(CONVERSION_EVENTS))
    if not rows:
        rows = lookup.rows(sql, **params, any_event=True, names=[])
    outcomes = lookup.outcomes([row["event_id"] for row in rows])
    for row in rows:
        row["is_conversion"] = row["event_name"] in CONVERSION_EVENTS
        row["outcomes"] = outcomes.get(row["event_id"], {})
    return rows


def _by_transaction(lookup: Lookup, transaction_id: str, limit: int) -> Trace:
    searched = f"transaction ID {transaction_id!r}"
    matches = lookup.rows(TRANSACTION_SQL, t=transaction_id, n=limit)
    outcomes = lookup.outcomes([m["event_id"] for m in matches])
    for match in matches:
        match["outcomes"] = outcomes.get(match["event_id"], {})
    quarantined = lookup.quarantined(transaction_id)
    if not matches and not quarantined:
        raise NotFoundError(
            f"no event or quarantined record with {searched}: searched events' "
            "transaction_id and order_id and the raw text of quarantined records"
        )
    events = _traces(lookup, (m["event_id"] for m in matches))
    return Trace(searched, {"transaction_id": transaction_id}, events, matches, quarantined)


def _traces(lookup: Lookup, event_ids: Iterable[str]) -> list[EventTrace]:
    return [t for e in event_ids if (t := lookup.event_trace(e)) is not None]
