"""Snapchat Conversions API v3: ``POST /{version}/{pixel_id}/events?access_token=``.

Body ``{"data": [...]}``; one invalid event fails the batch (``event`` names the first
bad index). ``/events/validate`` checks a batch, records nothing and answers a
ValidateResponse with a log line per event.
"""

from __future__ import annotations

from typing import Any

from trackstack_lab.emulator import identity, privacy
from trackstack_lab.emulator.checks import (
    DAY,
    INJECTED,
    Problem,
    Sink,
    bearer,
    is_number,
    is_text,
    load_json,
    scan,
    seconds_problem,
    take_hashed,
    token_ok,
)
from trackstack_lab.emulator.wire import Call, Platform, Reply, refused, route

MAX_EVENTS = 2000
MAX_AGE = 37 * DAY
HASHED = frozenset({"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id"})
ACTION_SOURCES = frozenset({"WEB", "WEBSITE", "MOBILE_APP", "APP", "OFFLINE"})
REJECTED = Problem("event", INJECTED, "INVALID_EVENT")


def invalid(reason: str, status: int = 400, **extra: Any) -> Reply:
    """Snapchat's EventResponse for a refused request."""
    return refused(status, {"status": "INVALID", "reason": reason, **extra})


def auth_error() -> Reply:
    return invalid("Unauthorized: invalid access token", 401)


def rate_limited() -> Reply:
    return invalid("Too many requests: rate limit exceeded", 429)


def server_error(status: int) -> Reply:
    return invalid("Internal server error", status)


def _user_problem(user: dict[str, Any], sink: Sink) -> Problem | None:
    for key, value in user.items():
        if key in HASHED and not take_hashed(value, sink):
            message = "must be a SHA-256 hash (64 lowercase hex) or a list of them"
            return Problem(f"user_data.{key}", message, "INVALID_HASHED_FIELD")
    if user.get("em") or user.get("ph") or user.get("madid") or user.get("mobile_ad_id"):
        return None
    if user.get("client_ip_address") and user.get("client_user_agent"):
        return None
    message = "needs em, ph, madid, or client_ip_address with client_user_agent"
    return Problem("user_data", message, "INSUFFICIENT_MATCH_KEYS")


def check_event(e: Any, now: float, sink: Sink) -> Problem | None:
    """The first problem of one ``data`` element, if any."""
    if type(e) is not dict:
        return Problem("event", "must be an object", "INVALID_EVENT")
    if not is_text(e.get("event_name")):
        return Problem("event_name", "is required", "INVALID_EVENT_NAME")
    bad_time = seconds_problem(e.get("event_time"), now, MAX_AGE)
    if bad_time is not None:
        return Problem("event_time", bad_time[1], "INVALID_EVENT_TIME")
    source = e.get("action_source")
    if type(source) is not str or source.upper() not in ACTION_SOURCES:
        return Problem(
            "action_source", "must be WEB, MOBILE_APP or OFFLINE", "INVALID_ACTION_SOURCE"
        )
    if source.upper() in ("WEB", "WEBSITE") and not is_text(e.get("event_source_url")):
        return Problem("event_source_url", "is required for web events", "MISSING_EVENT_SOURCE_URL")
    if "data_processing_options" in e:
        bad = privacy.options_problem(e["data_processing_options"])
        if bad is not None:
            return Problem("data_processing_options", bad, "INVALID_DATA_PROCESSING_OPTIONS")
    user = e.get("user_data")
    if type(user) is not dict:
        return Problem("user_data", "is required", "MISSING_USER_DATA")
    problem = _user_problem(user, sink)
    if problem is not None:
        return problem
    custom = e.get("custom_data")
    if custom is not None and (
        type(custom) is not dict or ("value" in custom and not is_number(custom["value"]))
    ):
        return Problem("custom_data.value", "must be a number", "INVALID_CUSTOM_DATA")
    return None


def _batch(call: Call) -> list[Any] | Reply:
    """The request's events, or the reply refusing it."""
    if not token_ok(call.query.get("access_token") or bearer(call.headers)):
        return auth_error()
    try:
        body = load_json(call.body)
    except ValueError:
        return invalid("Request body is not valid JSON")
    data = body.get("data") if type(body) is dict else None
    if type(data) is not list or not data:
        return invalid("data is required and must be a non-empty array")
    if len(data) > MAX_EVENTS:
        reason = f"A request may hold at most {MAX_EVENTS} events"
        errors = {"codes": ["TOO_MANY_EVENTS"], "error_msgs": [reason]}
        return refused(400, {"status": "INVALID", "reason": reason, "errors": errors}, len(data))
    return data


def handle_events(call: Call) -> Reply:
    """Validate a batch; record it all or refuse it all."""
    data = _batch(call)
    if isinstance(data, Reply):
        return data
    bad = scan(data, check_event, call.now, call.reject, REJECTED)
    if bad:
        first, problem = bad[0]
        errors = {
            "codes": [p.code for _, p in bad],
            "error_msgs": [f"event {i}: {p.field} {p.message}" for i, p in bad],
        }
        body = {
            "status": "INVALID",
            "reason": f"{problem.field} {problem.message}",
            "event": first,
            "errors": errors,
        }
        return refused(400, body, len(data))
    key = identity.snapchat_event
    call.state.record([key(e) for e in data])
    return Reply(200, {"status": "VALID", "reason": ""})


def handle_validate(call: Call) -> Reply:
    """Check a batch without recording it: a log line per event."""
    data = _batch(call)
    if isinstance(data, Reply):
        return data
    bad = dict(scan(data, check_event, call.now, call.reject, REJECTED))
    logs = [
        {
            "event": i,
            "status": "INVALID" if i in bad else "VALID",
            "errors": [f"{bad[i].field} {bad[i].message}"] if i in bad else [],
            "warnings": [],
        }
        for i in range(len(data))
    ]
    first = next(iter(bad.values()), None)
    body = {
        "status": "INVALID" if bad else "VALID",
        "test_event": True,
        "reason": f"{first.field} {first.message}" if first else "",
        "event_logs": logs,
    }
    return Reply(200, body, rejected_events=len(bad))


PIXEL = r"/(?P<version>[^/]+)/(?P<pixel_id>[^/]+)/events"

PLATFORM = Platform(
    name="snapchat",
    routes=(
        route(PIXEL, post=handle_events),
        route(PIXEL + "/validate", post=handle_validate),
    ),
    auth_error=auth_error,
    rate_limited=rate_limited,
    throttled=rate_limited,
    server_error=server_error,
)
