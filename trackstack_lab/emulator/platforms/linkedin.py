"""LinkedIn Conversions API: ``POST /rest/conversionEvents`` (BATCH_CREATE).

Headers ``Authorization: Bearer``, ``LinkedIn-Version: YYYYMM`` and
``X-Restli-Protocol-Version: 2.0.0``; body ``{"elements": [...]}``. One invalid element
fails the batch with a 422 naming each bad element's index and field.
"""

from __future__ import annotations

import re
from typing import Any

from trackstack_lab.emulator import identity
from trackstack_lab.emulator.checks import (
    DAY,
    INJECTED,
    Problem,
    Sink,
    bearer,
    is_text,
    load_json,
    millis_problem,
    scan,
    take_digest,
    token_ok,
)
from trackstack_lab.emulator.wire import Call, Platform, Reply, refused, route

MAX_ELEMENTS = 5000
MAX_AGE = 90 * DAY
CONVERSION = re.compile(r"urn:lla:llaPartnerConversion:\d+")
AMOUNT = re.compile(r"-?\d+(\.\d+)?")
VERSION = re.compile(r"\d{6}")
ID_TYPES = frozenset(
    {"SHA256_EMAIL", "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "ACXIOM_ID", "ORACLE_MOAT_ID"}
)
REQUIRED = "field is required"
REJECTED = Problem("/conversion", INJECTED)


def error(status: int, message: str, rejected: int = 0, **extra: Any) -> Reply:
    """LinkedIn's error body: ``{"status", "code"?, "message"}``."""
    return refused(status, {"status": status, **extra, "message": message}, rejected)


def auth_error() -> Reply:
    return error(401, "Invalid access token", serviceErrorCode=65600, code="INVALID_ACCESS_TOKEN")


def rate_limited() -> Reply:
    message = "Resource level throttle APPLICATION DAY limit for calls to this resource is reached."
    return error(429, message, code="TOO_MANY_REQUESTS")


def server_error(status: int) -> Reply:
    return error(status, "Service Unavailable" if status == 503 else "Internal Server Error")


def _user_problem(user: Any, sink: Sink) -> Problem | None:
    if type(user) is not dict:
        return Problem("/user", REQUIRED)
    ids = user.get("userIds")
    if type(ids) is not list:
        return Problem("/user/userIds", REQUIRED)
    for j, item in enumerate(ids):
        where = f"/user/userIds/{j}"
        if type(item) is not dict or item.get("idType") not in ID_TYPES:
            return Problem(f"{where}/idType", f"must be one of {', '.join(sorted(ID_TYPES))}")
        value = item.get("idValue")
        if not is_text(value):
            return Problem(f"{where}/idValue", REQUIRED)
        if item["idType"] == "SHA256_EMAIL" and not take_digest(value, sink):
            return Problem(f"{where}/idValue", "must be a SHA-256 hash as 64 lowercase hex")
    info = user.get("userInfo")
    if info is not None:
        if type(info) is not dict:
            return Problem("/user/userInfo", "must be an object")
        for name in ("firstName", "lastName"):
            if not is_text(info.get(name)):
                return Problem(f"/user/userInfo/{name}", REQUIRED)
    if not ids and info is None:
        return Problem("/user", "at least one user ID or userInfo is required")
    return None


def check_element(e: Any, now: float, sink: Sink) -> Problem | None:
    """The first problem of one conversion event, if any."""
    if type(e) is not dict:
        return Problem("/", "each element must be an object")
    conversion = e.get("conversion")
    if type(conversion) is not str or CONVERSION.fullmatch(conversion) is None:
        return Problem("/conversion", "must be urn:lla:llaPartnerConversion:<id>")
    bad_time = millis_problem(e.get("conversionHappenedAt"), now, MAX_AGE)
    if bad_time is not None:
        return Problem("/conversionHappenedAt", f"conversion time {bad_time[1]}")
    if "eventId" in e and not is_text(e["eventId"]):
        return Problem("/eventId", "must be a non-empty string")
    value = e.get("conversionValue")
    if value is not None:
        if type(value) is not dict or not is_text(value.get("currencyCode")):
            return Problem("/conversionValue/currencyCode", REQUIRED)
        amount = value.get("amount")
        if type(amount) is not str or AMOUNT.fullmatch(amount) is None:
            return Problem("/conversionValue/amount", "must be a decimal number as a string")
    return _user_problem(e.get("user"), sink)


def _header_problem(call: Call) -> Reply | None:
    version = call.headers.get("linkedin-version")
    if not version:
        message = (
            "A version must be present. Please specify a version by adding the "
            "LinkedIn-Version header."
        )
        return error(400, message, code="VERSION_MISSING")
    if VERSION.fullmatch(version) is None:
        return error(426, f"Requested version {version} is not active", code="NONEXISTENT_VERSION")
    if call.headers.get("x-restli-protocol-version") != "2.0.0":
        return error(400, "X-Restli-Protocol-Version must be 2.0.0")
    return None


def handle_events(call: Call) -> Reply:
    """Validate a batch; record it all or refuse it all."""
    if not token_ok(bearer(call.headers)):
        return auth_error()
    problem = _header_problem(call)
    if problem is not None:
        return problem
    try:
        body = load_json(call.body)
    except ValueError:
        return error(400, "Unable to parse the request body as JSON")
    elements = body.get("elements") if type(body) is dict else None
    if type(elements) is not list or not elements:
        return error(400, "elements is required and must be a non-empty array")
    if len(elements) > MAX_ELEMENTS:
        message = f"Batch size {len(elements)} exceeds the maximum of {MAX_ELEMENTS} elements"
        return error(400, message, len(elements))
    bad = scan(elements, check_element, call.now, call.reject, REJECTED)
    if bad:
        lines = "\n".join(f"Index: {i}, ERROR :: {p.field} :: {p.message}" for i, p in bad)
        return error(422, lines, len(elements), code="UNPROCESSABLE_ENTITY")
    key = identity.linkedin_event
    call.state.record([key(e) for e in elements])
    return Reply(200, {"elements": [{"status": 201}] * len(elements)})


PLATFORM = Platform(
    name="linkedin",
    routes=(route(r"/rest/conversionEvents", post=handle_events),),
    auth_error=auth_error,
    rate_limited=rate_limited,
    throttled=rate_limited,
    server_error=server_error,
)
