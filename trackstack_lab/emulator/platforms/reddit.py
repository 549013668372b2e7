"""Reddit Conversions API v3: ``POST /api/{version}/pixels/{pixel_id}/conversion_events``.

Bearer auth; body ``{"data": {"events": [...], "test_id"?}}``. One invalid event fails
the batch: the 400 lists every invalid event as sent, with its error message.
"""

from __future__ import annotations

from typing import Any

from trackstack_lab.emulator import identity, privacy
from trackstack_lab.emulator.checks import (
    DAY,
    INJECTED,
    MINUTE,
    Problem,
    Sink,
    bearer,
    is_number,
    is_text,
    load_json,
    millis_problem,
    scan,
    take_digest,
    token_ok,
)
from trackstack_lab.emulator.wire import Call, Platform, Reply, refused, route

MAX_EVENTS = 1000
MAX_AGE = 7 * DAY
MAX_FUTURE = 5 * MINUTE
ACTION_SOURCES = frozenset({"WEBSITE", "APP", "PHYSICAL_STORE", "OTHER"})
TRACKING_TYPES = frozenset(
    {
        "PAGE_VISIT", "VIEW_CONTENT", "SEARCH", "ADD_TO_CART", "ADD_TO_WISHLIST", "LEAD",
        "PURCHASE", "SIGN_UP", "CUSTOM",
    }
)  # fmt: skip
HASHED = ("email", "phone_number", "external_id", "ip_address", "idfa", "aaid")
MATCH_KEYS = (*HASHED, "uuid")
TIME_MESSAGES = {
    "too_old": "event_at timestamp must be less than 168h0m0s old",
    "future": "event_at timestamp must not be more than 5m0s in the future",
}
REJECTED = Problem("event", INJECTED)


def failure(status: int, reason: str, explanation: str) -> Reply:
    """Reddit's ``{"success": false, "error": {...}}`` envelope."""
    error = {"reason": reason, "explanation": explanation}
    return refused(status, {"success": False, "error": error})


def auth_error() -> Reply:
    return failure(401, "UNAUTHORIZED", "The access token is invalid.")


def rate_limited() -> Reply:
    return failure(429, "TOO_MANY_REQUESTS", "Rate limit exceeded; retry later.")


def server_error(status: int) -> Reply:
    return failure(status, "INTERNAL_ERROR", "An internal error occurred; retry later.")


def invalid(message: str, events: list[dict[str, Any]], rejected: int = 0) -> Reply:
    return refused(400, {"message": message, "invalid_events": events}, rejected)


def _user_problem(e: dict[str, Any], sink: Sink) -> Problem | None:
    user = e.get("user")
    if user is None:
        user = {}
    elif type(user) is not dict:
        return Problem("user", "user must be an object")
    for key in HASHED:
        if key in user and not take_digest(user[key], sink):
            return Problem(f"user.{key}", f"user.{key} must be a SHA-256 hash as 64 lowercase hex")
    if is_text(e.get("click_id")) or any(user.get(k) for k in MATCH_KEYS):
        return None
    return Problem("user", "at least one of click_id or a user identifier is required")


def check_event(e: Any, now: float, sink: Sink) -> Problem | None:
    """The first problem of one event, if any."""
    if type(e) is not dict:
        return Problem("event", "event must be an object")
    bad_time = millis_problem(e.get("event_at"), now, MAX_AGE, MAX_FUTURE)
    if bad_time is not None:
        kind, text = bad_time
        return Problem("event_at", TIME_MESSAGES.get(kind, f"event_at {text}"))
    if e.get("action_source") not in ACTION_SOURCES:
        return Problem("action_source", f"action_source must be one of {sorted(ACTION_SOURCES)}")
    kind = e.get("type")
    tracking = kind.get("tracking_type") if type(kind) is dict else None
    if tracking not in TRACKING_TYPES:
        return Problem("type", f"type.tracking_type must be one of {sorted(TRACKING_TYPES)}")
    if tracking == "CUSTOM" and not is_text(kind.get("custom_event_name")):
        return Problem("type", "type.custom_event_name is required for CUSTOM events")
    metadata = e.get("metadata")
    if metadata is not None:
        if type(metadata) is not dict:
            return Problem("metadata", "metadata must be an object")
        if "conversion_id" in metadata and not is_text(metadata["conversion_id"]):
            return Problem("metadata", "metadata.conversion_id must be a non-empty string")
        if "value" in metadata and not is_number(metadata["value"]):
            return Problem("metadata", "metadata.value must be a number")
    user = e.get("user")
    bad_privacy = privacy.reddit_problem(user) if type(user) is dict else None
    if bad_privacy is not None:
        return Problem("user", bad_privacy)
    return _user_problem(e, sink)


def handle_events(call: Call) -> Reply:
    """Validate a batch; record it all or refuse it all."""
    if not token_ok(bearer(call.headers)):
        return auth_error()
    try:
        body = load_json(call.body)
    except ValueError:
        return invalid("The request body is not valid JSON.", [])
    data = body.get("data") if type(body) is dict else None
    events = data.get("events") if type(data) is dict else None
    if type(events) is not list or not events:
        return invalid("data.events is required and must be a non-empty array.", [])
    if len(events) > MAX_EVENTS:
        message = f"A request may hold at most {MAX_EVENTS} conversion events."
        return invalid(message, [], len(events))
    bad = scan(events, check_event, call.now, call.reject, REJECTED)
    if bad:
        listed = [{"error_message": p.message, "event": events[i]} for i, p in bad]
        message = f"There were {len(bad)} invalid conversion events. None were processed."
        return invalid(message, listed, len(events))
    key = identity.reddit_event
    call.state.record([key(e) for e in events], test=bool(data.get("test_id")))
    return Reply(200, {"message": f"Successfully processed {len(events)} conversion events."})


PLATFORM = Platform(
    name="reddit",
    routes=(
        route(
            r"/api/(?P<version>[^/]+)/pixels/(?P<pixel_id>[^/]+)/conversion_events",
            post=handle_events,
        ),
    ),
    auth_error=auth_error,
    rate_limited=rate_limited,
    throttled=rate_limited,
    server_error=server_error,
)
