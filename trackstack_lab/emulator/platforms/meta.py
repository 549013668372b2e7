"""Meta Conversions API: ``POST /{version}/{pixel_id}/events?access_token=``.

A JSON body ``{"data": [...], "test_event_code"?}`` (or a form with ``data`` as a JSON
string). One invalid or too-old event fails the whole request with a Graph error; the
message says what is wrong but not which event.
"""

from __future__ import annotations

from typing import Any

from trackstack_lab.emulator import identity, privacy
from trackstack_lab.emulator.checks import (
    DAY,
    INJECTED,
    Problem,
    Sink,
    is_number,
    is_text,
    load_form,
    load_json,
    scan,
    seconds_problem,
    take_hashed,
    token_ok,
    trace_id,
)
from trackstack_lab.emulator.readback import dataset_quality, record_meta_events
from trackstack_lab.emulator.wire import Call, Platform, Reply, refused, route

MAX_EVENTS = 1000
MAX_AGE = 7 * DAY
PHYSICAL_STORE_MAX_AGE = 62 * DAY
MAX_FUTURE = 60.0
TOO_OLD = 2804003
INVALID = 2804050
HASHED = frozenset({"em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country", "external_id"})
PLAIN_MATCH_KEYS = (
    "fbc", "fbp", "lead_id", "madid", "anon_id", "subscription_id", "fb_login_id",
    "page_scoped_user_id", "ctwa_clid", "ig_sid",
)  # fmt: skip
ACTION_SOURCES = frozenset(
    {
        "email", "website", "app", "phone_call", "chat", "physical_store",
        "system_generated", "business_messaging", "other",
    }
)  # fmt: skip
TITLES = {
    "too_old": "Event Timestamp Too Old",
    "future": "Event Timestamp In The Future",
    "hash": "Invalid Hashed Value",
    "match": "Missing Customer Information",
}
REJECTED = Problem("data", INJECTED)


def graph_error(status: int, error: dict[str, Any], rejected: int = 0) -> Reply:
    """A Graph API error envelope."""
    return refused(status, {"error": {**error, "fbtrace_id": trace_id()}}, rejected)


def invalid(problem: Problem, rejected: int = 0) -> Reply:
    """HTTP 400, code 100: the request was refused because of an invalid parameter."""
    return graph_error(
        400,
        {
            "message": "Invalid parameter",
            "type": "OAuthException",
            "code": 100,
            "error_subcode": TOO_OLD if problem.code == "too_old" else INVALID,
            "error_user_title": TITLES.get(problem.code, "Invalid Parameter Value"),
            "error_user_msg": f"{problem.field}: {problem.message}",
        },
        rejected,
    )


def auth_error() -> Reply:
    """A token Meta cannot parse (an expired one has ``error_subcode`` 463: ``auth``)."""
    return graph_error(
        401,
        {
            "message": "Invalid OAuth access token - Cannot parse access token",
            "type": "OAuthException",
            "code": 190,
        },
    )


def rate_limited() -> Reply:
    return graph_error(
        429,
        {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4},
    )


def throttled() -> Reply:
    return graph_error(
        400,
        {
            "message": "(#80003) There have been too many calls to this dataset. "
            "Wait a bit and try again.",
            "type": "OAuthException",
            "code": 80003,
            "is_transient": True,
        },
    )


def server_error(status: int) -> Reply:
    return graph_error(
        status,
        {
            "message": "An unexpected error has occurred. Please retry your request later.",
            "type": "OAuthException",
            "code": 2,
            "is_transient": True,
        },
    )


def _user_problem(user: dict[str, Any], website: bool, sink: Sink) -> Problem | None:
    matched = False
    for key, value in user.items():
        if key in HASHED:
            if not take_hashed(value, sink):
                return Problem(
                    f"user_data.{key}",
                    "must be a SHA-256 hash (64 lowercase hex characters) or a list of them",
                    "hash",
                )
            matched = True
    if website and not is_text(user.get("client_user_agent")):
        return Problem("user_data.client_user_agent", "is required for website events")
    if matched or any(user.get(k) for k in PLAIN_MATCH_KEYS):
        return None
    if user.get("client_ip_address") and user.get("client_user_agent"):
        return None
    return Problem(
        "user_data",
        "needs at least one customer information parameter (a hashed key, fbc, fbp, "
        "or client_ip_address with client_user_agent)",
        "match",
    )


def check_event(e: Any, now: float, sink: Sink) -> Problem | None:
    """The first problem of one ``data`` element, if any."""
    if type(e) is not dict:
        return Problem("data", "each event must be a JSON object")
    if not is_text(e.get("event_name")):
        return Problem("event_name", "is required")
    source = e.get("action_source")
    if source not in ACTION_SOURCES:
        return Problem("action_source", f"must be one of {', '.join(sorted(ACTION_SOURCES))}")
    max_age = PHYSICAL_STORE_MAX_AGE if source == "physical_store" else MAX_AGE
    bad_time = seconds_problem(e.get("event_time"), now, max_age, MAX_FUTURE)
    if bad_time is not None:
        return Problem("event_time", bad_time[1], bad_time[0])
    website = source == "website"
    if website and not is_text(e.get("event_source_url")):
        return Problem("event_source_url", "is required for website events")
    bad_privacy = privacy.meta_problem(e)
    if bad_privacy is not None:
        return Problem(*bad_privacy)
    user = e.get("user_data")
    if type(user) is not dict:
        return Problem("user_data", "is required")
    problem = _user_problem(user, website, sink)
    if problem is not None:
        return problem
    custom = e.get("custom_data")
    if custom is None:
        custom = {}
    elif type(custom) is not dict:
        return Problem("custom_data", "must be a JSON object")
    if "value" in custom and not is_number(custom["value"]):
        return Problem("custom_data.value", "must be a number")
    if e["event_name"] == "Purchase" and not (
        is_number(custom.get("value")) and is_text(custom.get("currency"))
    ):
        return Problem("custom_data", "Purchase events need a value and a currency")
    return None


def _envelope(call: Call) -> dict[str, Any]:
    if call.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        form: dict[str, Any] = load_form(call.body)
        if "data" in form:
            form["data"] = load_json(form["data"].encode())
        return form
    body = load_json(call.body)
    if type(body) is not dict:
        raise ValueError("the body must be a JSON object")
    return body


def handle_events(call: Call) -> Reply:
    """Validate a batch; record it all or refuse it all."""
    try:
        body: dict[str, Any] | None = _envelope(call)
    except ValueError:
        body = None
    if not token_ok(call.query.get("access_token") or (body or {}).get("access_token")):
        return auth_error()
    if body is None:
        return invalid(Problem("body", "must be a JSON object with a data array"))
    data = body.get("data")
    if type(data) is not list or not data:
        return invalid(Problem("data", "is required and must be a non-empty array"))
    if len(data) > MAX_EVENTS:
        message = f"a request may hold at most {MAX_EVENTS} events"
        return invalid(Problem("data", message), len(data))
    bad = scan(data, check_event, call.now, call.reject, REJECTED)
    if bad:
        return invalid(bad[0][1], len(data))
    key = identity.meta_event
    call.state.record([key(e) for e in data], test=bool(body.get("test_event_code")))
    if not body.get("test_event_code"):
        record_meta_events(call, data)
    return Reply(200, {"events_received": len(data), "messages": [], "fbtrace_id": trace_id()})


PLATFORM = Platform(
    name="meta",
    routes=(
        route(r"/(?P<version>[^/]+)/(?P<pixel_id>[^/]+)/events", post=handle_events),
        route(r"/(?P<version>[^/]+)/dataset_quality", counted=False, get=dataset_quality),
    ),
    auth_error=auth_error,
    rate_limited=rate_limited,
    throttled=throttled,
    server_error=server_error,
)
