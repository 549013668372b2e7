"""Session IDs for records that carry none (seed 002: "generated if not provided").

The rule, deterministic from the stored row alone: a record without ``sessionId`` gets

    'gs_' || left(sha256(project | visitor | bucket), 32)

- ``project``: ``projectId`` (set by the HTTP sink), else ``projectKey``, else empty;
- ``visitor``: the first of the user ID (``externalId``, else ``userId``), the email
  (trimmed, lower case), the ``anonymousId`` (kept in ``properties``), the client IP as
  stored (after the ``client_ip`` policy) with the user agent; a record with none of
  them is its own visitor (its event ID);
- ``bucket``: the fixed 30-minute UTC interval of the event time (``ts``, or the time
  ingest gave a record without one), counted from the Unix epoch.

and ``session_id_generated = true`` (false when the record had its own).

Why fixed buckets and not 30 minutes of inactivity: an inactivity session depends on the
visitor's other events, so a batch arriving late (or a file split differently) would
change sessions already stored, and ``events`` is append-only. A bucket depends on the
record only: re-ingest, batch splits and arrival order give the same ID. The price: a
visit that crosses a bucket boundary is two sessions.

Why this visitor order: a generated session holds the rows of one visitor key only, so
the person graph (which links rows sharing a session, `trackstack_wh.people`) learns no
link from it: a user ID's rows are already that person, an email's rows that email's, and
rows keyed by an anonymous ID or by IP and agent name no person.
"""

from __future__ import annotations

SESSION_BUCKET_SECONDS = 1800
"""Length of the fixed UTC buckets sessions are generated in (30 minutes)."""

_VISITOR = """coalesce(
        'u:' || nullif(trim(s.external_id), ''),
        'u:' || nullif(trim(s.user_id), ''),
        'e:' || nullif(lower(trim(s.email)), ''),
        'a:' || nullif(trim(coalesce(s.properties ->> 'anonymousId',
                                     s.properties ->> 'anonymous_id')), ''),
        'c:' || s.client_ip || '|' || s.user_agent,
        'x:' || s.event_id)"""


def session_sql(event_time: str) -> str:
    """SQL over a staged row ``s`` (client IP already under its policy): the ID of its
    session, its own or generated (``event_time``: SQL of the stored event time)."""
    bucket = f"(epoch_ms({event_time}) // {SESSION_BUCKET_SECONDS * 1000})"
    key = (
        f"coalesce(s.project_id, s.project_key, '') || '|' || {_VISITOR} "
        f"|| '|' || {bucket}::varchar"
    )
    return f"coalesce(s.session_id, 'gs_' || left(sha256({key}), 32))"
