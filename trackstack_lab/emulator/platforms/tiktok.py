"""TikTok Events API 2.0: ``POST /open_api/{version}/event/track/`` (``Access-Token``).

Body ``{"event_source", "event_source_id", "data": [...], "test_event_code"?}``. TikTok
answers HTTP 200 even on errors; the outcome is the body's ``code`` (0 = OK, 40002 =
invalid, the whole batch refused, 40105 = bad token, 40100 = throttled).
"""

from __future__ import annotations

from typing import Any

from trackstack_lab.emulator import identity
from trackstack_lab.emulator.checks import (
    DAY,
    INJECTED,
    Problem,
    Sink,
    is_number,
    is_text,
    load_json,
    new_uuid,
    scan,
    seconds_problem,
    take_hashed,
    token_ok,
)
from trackstack_lab.emulator.wire import Call, Platform, Reply, refused, route

MAX_EVENTS = 1000
MAX_AGE = 28 * DAY
"""The web event age limit is not documented; 28 days is the documented offline limit."""
EVENT_SOURCES = frozenset({"web", "app", "offline", "crm"})
HASHED = ("email", "phone", "external_id")
INVALID = 40002
REJECTED = Problem("event", INJECTED)


def answer(code: int, message: str, status: int = 200, rejected: int = 0) -> Reply:
    """TikTok's body ``{"code", "message", "request_id", "data"}``."""
    body = {"code": code, "message": message, "request_id": new_uuid().replace("-", ""), "data": {}}
    if code == 0:
        return Reply(status, body)
    return refused(status, body, rejected)


def auth_error() -> Reply:
    return answer(40105, "Access token is incorrect or has been revoked.")


def throttled() -> Reply:
    return answer(40100, "Too many requests. Please retry in some time.")


def rate_limited() -> Reply:
    return answer(40100, "Too many requests. Please retry in some time.", status=429)


def server_error(status: int) -> Reply:
    return answer(50000, "Internal service error. Please retry in some time.", status=status)


def check_event(e: Any, now: float, sink: Sink) -> Problem | None:
    """The first problem of one ``data`` element, if any."""
    if type(e) is not dict:
        return Problem("_schema", "Invalid input type.")
    if not is_text(e.get("event")):
        return Problem("event", "Missing data for required field.")
    bad_time = seconds_problem(e.get("event_time"), now, MAX_AGE)
    if bad_time is not None:
        return Problem("event_time", f"The event time {bad_time[1]}.")
    if "event_id" in e and not is_text(e["event_id"]):
        return Problem("event_id", "Not a valid string.")
    if "limited_data_use" in e and type(e["limited_data_use"]) is not bool:
        return Problem("limited_data_use", "Not a valid boolean.")
    user = e.get("user")
    if user is not None:
        if type(user) is not dict:
            return Problem("user", "Not a valid object.")
        for key in HASHED:
            if key in user and not take_hashed(user[key], sink):
                return Problem(f"user.{key}", "Must be a SHA-256 hash (64 lowercase hex).")
    properties = e.get("properties")
    if properties is not None:
        if type(properties) is not dict:
            return Problem("properties", "Not a valid object.")
        if "value" in properties and not is_number(properties["value"]):
            return Problem("properties.value", "Not a valid number.")
    return None


def handle_track(call: Call) -> Reply:
    """Validate a batch; record it all or refuse it all."""
    if not token_ok(call.headers.get("access-token")):
        return auth_error()
    try:
        body = load_json(call.body)
    except ValueError:
        return answer(INVALID, "Invalid JSON in the request body.")
    if type(body) is not dict:
        return answer(INVALID, "The request body must be a JSON object.")
    if body.get("event_source") not in EVENT_SOURCES:
        return answer(INVALID, f"event_source: Must be one of {', '.join(sorted(EVENT_SOURCES))}.")
    if not is_text(body.get("event_source_id")):
        return answer(INVALID, "event_source_id: Missing data for required field.")
    data = body.get("data")
    if type(data) is not list or not data:
        return answer(INVALID, "data: Missing data for required field.")
    if len(data) > MAX_EVENTS:
        return answer(
            INVALID, f"data: Length must be between 1 and {MAX_EVENTS}.", rejected=len(data)
        )
    bad = scan(data, check_event, call.now, call.reject, REJECTED)
    if bad:
        message = "; ".join(f"Batch.{i}.{p.field}: {p.message}" for i, p in bad)
        return answer(INVALID, message, rejected=len(data))
    key = identity.tiktok_event
    call.state.record([key(e) for e in data], test=bool(body.get("test_event_code")))
    return answer(0, "OK")


PLATFORM = Platform(
    name="tiktok",
    routes=(route(r"/open_api/(?P<version>[^/]+)/event/track/?", post=handle_track),),
    auth_error=auth_error,
    rate_limited=rate_limited,
    throttled=throttled,
    server_error=server_error,
)
