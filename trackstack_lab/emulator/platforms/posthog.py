"""PostHog, as its docs describe the public capture API and two private read calls.

- ``POST /batch/`` (public, the project API key as the body's ``api_key``): ``{"api_key",
  "batch": [...], "historical_migration"?, "sent_at"?}``. Each event needs ``event`` and
  a ``distinct_id`` (top level or in ``properties``); ``uuid``, when given, must be a
  UUID and ``timestamp`` ISO 8601. One bad event refuses the whole batch (400, no event
  named); a missing or unknown key is 401 ``invalid_api_key``; a body over 20 MB is 413.
  An accepted batch answers ``{"status": 1}``; the platform's throttle is its billing
  limit: 200 with ``quota_limited: ["events"]``, the events dropped. An injected 503
  comes as the HTML page of the load balancer in front.
- Events are deduplicated on ``uuid``. ``$identify`` (``distinct_id`` the person,
  ``$anon_distinct_id`` merged into it, ``$set`` / ``$set_once`` applied),
  ``$groupidentify`` (``$group_type``, ``$group_key``, ``$group_set``) and any event's
  ``$set`` keep persons and groups; ``$process_person_profile: false`` events make none.
- ``POST /flags/?v=2`` (public): the credential check (401 for an unknown key).
- Private reads (``Authorization: Bearer <personal API key>``):
  ``GET /api/projects/{id}/persons/?distinct_id=`` and ``POST /api/projects/{id}/query/``
  with a HogQL ``select event, count() from events group by event`` (the one query the
  emulator answers) giving each event name's count of unique events.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from trackstack_lab.emulator.checks import bearer, is_text, load_json, new_uuid, token_ok
from trackstack_lab.emulator.identity import posthog_event
from trackstack_lab.emulator.state import DestinationState
from trackstack_lab.emulator.wire import Call, Platform, Reply, refused, route

MAX_BODY = 20 * 1024 * 1024
"""PostHog's request body limit for ``/batch/`` (20 MB)."""
COUNT_QUERY = re.compile(
    r"\s*select\s+event\s*,\s*count\(\s*\*?\s*\)\s+from\s+events\s+group\s+by\s+event\s*;?\s*",
    re.IGNORECASE,
)
HTML_503 = (
    b"<html><head><title>503 Service Temporarily Unavailable</title></head><body>"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center></body></html>"
)


@dataclass
class Project:
    """What the emulated project holds: events by uuid, persons and groups."""

    events: dict[str, str] = field(default_factory=dict)
    """uuid -> event name, for every event taken (each uuid once)."""
    person_of: dict[str, str] = field(default_factory=dict)
    """distinct ID -> person ID."""
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    """person ID -> person properties."""
    groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    """(group type, key) -> group properties."""

    def person(self, distinct_id: str) -> str:
        """The person of ``distinct_id``, created when new."""
        found = self.person_of.get(distinct_id)
        if found is None:
            found = self.person_of[distinct_id] = str(uuid.uuid4())
            self.properties[found] = {}
        return found

    def merge(self, anonymous: str, into: str) -> None:
        """Merge the person of ``anonymous`` into the person of ``into``."""
        target = self.person(into)
        source = self.person_of.get(anonymous)
        if source is None:
            self.person_of[anonymous] = target
            return
        if source == target:
            return
        for distinct_id, person in list(self.person_of.items()):
            if person == source:
                self.person_of[distinct_id] = target
        merged = self.properties.pop(source, {})
        self.properties[target] = {**merged, **self.properties[target]}

    def distinct_ids(self, person: str) -> list[str]:
        return sorted(d for d, p in self.person_of.items() if p == person)


def project(state: DestinationState) -> Project:
    """The emulated project kept in a destination state."""
    found = state.extra.get("posthog")
    if not isinstance(found, Project):
        found = state.extra["posthog"] = Project()
    return found


def error(status: int, kind: str, code: str, detail: str) -> Reply:
    """PostHog's error envelope: ``{"type", "code", "detail", "attr"}``."""
    return refused(status, {"type": kind, "code": code, "detail": detail, "attr": None})


def auth_error() -> Reply:
    detail = (
        "Project API key invalid. You can find your project API key in PostHog project settings."
    )
    return error(401, "authentication_error", "invalid_api_key", detail)


def rate_limited() -> Reply:
    return error(429, "throttled", "rate_limited", "Request was throttled.")


def quota_limited() -> Reply:
    """The billing limit: the batch is taken and its events dropped."""
    return Reply(200, {"status": 1, "quota_limited": ["events"]})


def server_error(status: int) -> Reply:
    """A 503 is the HTML page of the load balancer in front; other 5xx are PostHog's."""
    if status == 503:
        reply = refused(503, HTML_503)
        reply.headers.append(("Content-Type", "text/html"))
        return reply
    return error(status, "server_error", "error", "A server error occurred.")


def body_key(call: Call) -> str | None:
    """The project API key a public call carries in its JSON body (or ``token``)."""
    try:
        body = load_json(call.body)
    except ValueError:
        return None
    if type(body) is not dict:
        return None
    key = body.get("api_key", body.get("token"))
    if type(key) is not str:
        return None
    return key if "*" not in key else "invalid-masked"


def key_ok(key: Any) -> bool:
    """A project key the emulated project knows: the emulator's token rule, and no
    masking stars (a ``***`` placeholder that never got its real key is refused)."""
    return token_ok(key) and "*" not in key


def _invalid(detail: str) -> Reply:
    return error(400, "validation_error", "invalid_payload", detail)


def _distinct_id(e: dict[str, Any]) -> Any:
    properties = e.get("properties")
    inner = properties.get("distinct_id") if type(properties) is dict else None
    return e.get("distinct_id", e.get("$distinct_id", inner))


def _problem(e: Any) -> str | None:
    """Why PostHog would refuse one event of a batch, if it would."""
    if type(e) is not dict:
        return "every batch item must be an object"
    if not is_text(e.get("event")):
        return "event name is required"
    distinct = _distinct_id(e)
    if not (is_text(distinct) or type(distinct) is int):
        return "distinct_id is required"
    if "properties" in e and type(e["properties"]) is not dict:
        return "properties must be an object"
    if "uuid" in e:
        try:
            uuid.UUID(str(e["uuid"]))
        except ValueError:
            return f"invalid uuid {str(e['uuid'])[:40]!r}"
    stamp = e.get("timestamp")
    if stamp is not None and not _iso(stamp):
        return f"invalid timestamp {str(stamp)[:40]!r}"
    return None


def _iso(value: Any) -> bool:
    if type(value) is not str:
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _object(value: Any) -> dict[str, Any]:
    return value if type(value) is dict else {}


def _take(p: Project, e: dict[str, Any]) -> None:
    """Apply one new event to the project's persons and groups."""
    properties: dict[str, Any] = e.get("properties") or {}
    name, distinct = e["event"], str(_distinct_id(e))
    if name == "$groupidentify":
        group = (str(properties.get("$group_type")), str(properties.get("$group_key")))
        p.groups.setdefault(group, {}).update(_object(properties.get("$group_set")))
        return
    if properties.get("$process_person_profile") is False:
        return
    anonymous = properties.get("$anon_distinct_id")
    if name == "$identify" and is_text(anonymous):
        p.merge(str(anonymous), distinct)
    person = p.person(distinct)
    props = p.properties[person]
    for trait, value in _object(properties.get("$set_once")).items():
        props.setdefault(trait, value)
    props.update(_object(properties.get("$set")))


def handle_batch(call: Call) -> Reply:
    """``/batch/``: take a whole batch or refuse it whole."""
    if len(call.body) > MAX_BODY:
        return error(413, "validation_error", "payload_too_large", "Request body too large.")
    try:
        body = load_json(call.body)
    except ValueError:
        return _invalid("Malformed request data: the body is not valid JSON.")
    if type(body) is not dict:
        return _invalid("Malformed request data: the body must be an object.")
    if not key_ok(body.get("api_key")):
        return auth_error()
    batch = body.get("batch")
    if type(batch) is not list:
        return _invalid("Malformed request data: batch must be a list of events.")
    for i, e in enumerate(batch):
        problem = "rejected by an injected fault" if i in call.reject else _problem(e)
        if problem is not None:
            reply = _invalid(f"Invalid event in batch: {problem}.")
            reply.rejected_events = len(batch)
            return reply
    p = project(call.state)
    for e in batch:
        key = e.get("uuid")
        if is_text(key) and key in p.events:
            continue
        if is_text(key):
            p.events[key] = e["event"]
        _take(p, e)
    call.state.record([posthog_event(e) for e in batch])
    return Reply(200, {"status": 1})


def handle_flags(call: Call) -> Reply:
    """``/flags/``: feature flags for a distinct ID (the credential check)."""
    return Reply(200, {"flags": {}, "errorsWhileComputingFlags": False, "requestId": new_uuid()})


def _personal(call: Call) -> Reply | None:
    if token_ok(bearer(call.headers)):
        return None
    detail = "Personal API key invalid."
    return error(401, "authentication_error", "authentication_failed", detail)


def handle_persons(call: Call) -> Reply:
    """``GET /api/projects/{id}/persons/?distinct_id=``: the person of one distinct ID."""
    denied = _personal(call)
    if denied is not None:
        return denied
    p = project(call.state)
    wanted = call.query.get("distinct_id")
    people = sorted(set(p.person_of.values()))
    if wanted is not None:
        people = [p.person_of[wanted]] if wanted in p.person_of else []
    results = [
        {"id": person, "uuid": person, "distinct_ids": p.distinct_ids(person),
         "properties": p.properties.get(person, {})}
        for person in people
    ]  # fmt: skip
    return Reply(200, {"results": results, "next": None, "previous": None})


def handle_query(call: Call) -> Reply:
    """``POST /api/projects/{id}/query/``: HogQL event counts (the one query answered)."""
    denied = _personal(call)
    if denied is not None:
        return denied
    try:
        body = load_json(call.body)
    except ValueError:
        return _invalid("Malformed request data: the body is not valid JSON.")
    query = body.get("query") if type(body) is dict else None
    text = query.get("query") if type(query) is dict else None
    if type(text) is not str or COUNT_QUERY.fullmatch(text) is None:
        detail = "The emulator answers only: select event, count() from events group by event"
        return _invalid(detail)
    counts: dict[str, int] = {}
    for name in project(call.state).events.values():
        counts[name] = counts.get(name, 0) + 1
    results = [[name, n] for name, n in sorted(counts.items())]
    return Reply(200, {"columns": ["event", "count()"], "types": ["String", "UInt64"],
                       "results": results, "hasMore": False})  # fmt: skip


PLATFORM = Platform(
    name="posthog",
    routes=(
        route(r"/batch/?", post=handle_batch),
        route(r"/api/projects/(?P<project>[^/]+)/persons/?", counted=False, get=handle_persons),
        route(r"/api/projects/(?P<project>[^/]+)/query/?", counted=False, post=handle_query),
    ),
    auth_error=auth_error,
    rate_limited=rate_limited,
    throttled=quota_limited,
    server_error=server_error,
)
