"""Cheap validation primitives shared by the platform handlers.

Everything here runs once per element (or per field), so it avoids regexes where a
builtin does the job. SHA-256 hex digests, the bulk of every element, are collected
while an element is checked and verified for the whole request in one go (`scan`).
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson

MINUTE = 60.0
HOUR = 3_600.0
DAY = 86_400.0
MS_FLOOR = 100_000_000_000
"""Epoch values at or above 1e11 are milliseconds (as seconds they would be year 5138)."""
MS_CEIL = 100_000_000_000_000
"""Epoch milliseconds stay below 1e14; larger values are microseconds."""
FUTURE_SKEW = 5 * MINUTE
"""How far ahead of the emulator clock a timestamp may be, unless a platform says else."""
INJECTED = "rejected by an injected fault"
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
_fromhex = bytes.fromhex


class Problem(NamedTuple):
    """Why one element is invalid: the field (in the platform's notation) and a message."""

    field: str
    message: str
    code: str = "INVALID"


def is_sha256(value: Any) -> bool:
    """A SHA-256 digest as 64 lowercase hex characters."""
    try:
        return len(value) == 64 and _fromhex(value).hex() == value
    except (TypeError, ValueError):
        return False


def hashed_ok(value: Any) -> bool:
    """A hashed match key: one digest, or a non-empty list of digests."""
    try:
        if type(value) is list:
            for v in value:
                if len(v) != 64 or _fromhex(v).hex() != v:
                    return False
            return bool(value)
        return len(value) == 64 and _fromhex(value).hex() == value
    except (TypeError, ValueError):
        return False


def hashes_ok(values: list[Any]) -> bool:
    """Whether every value is a SHA-256 hex digest, checked in two C calls for all of them:
    joined with spaces, decoded, and re-encoded with a space every 32 bytes, the text must
    come back unchanged (any wrong length, case, character or type breaks that)."""
    try:
        joined = " ".join(values)
        return _fromhex(joined).hex(" ", 32) == joined
    except (TypeError, ValueError):
        return False


Sink = list[Any] | None
"""Where a check defers hashed values (None: check them on the spot)."""


def take_hashed(value: Any, sink: Sink) -> bool:
    """A hashed match key (a digest or a non-empty list of digests): checked now without
    a sink, else collected for `hashes_ok` (False only when surely invalid)."""
    if sink is None:
        return hashed_ok(value)
    if type(value) is list:
        sink += value
        return bool(value)
    sink.append(value)
    return True


def is_text(value: Any) -> bool:
    """A non-empty string."""
    return type(value) is str and value != ""


def is_number(value: Any) -> bool:
    """An int or float (not a bool)."""
    return type(value) is int or type(value) is float


def span(seconds: float) -> str:
    """A duration as people write limits: ``7 days``, ``5 minutes``, ``1 minute``."""
    for size, unit in ((DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def age_problem(at: float, now: float, max_age: float, future: float) -> tuple[str, str] | None:
    """``("too_old" | "future", message)`` when a time is outside the accepted window."""
    if at < now - max_age:
        return "too_old", f"is too old: more than {span(max_age)} before now"
    if at > now + future:
        return "future", f"is too far in the future: more than {span(future)} after now"
    return None


def seconds_problem(
    value: Any, now: float, max_age: float, future: float = FUTURE_SKEW
) -> tuple[str, str] | None:
    """Why a Unix-seconds timestamp is unacceptable: ``(kind, message)``; kind is ``type``,
    ``unit``, ``too_old`` or ``future``."""
    if type(value) is not int:
        return "type", "must be an integer number of seconds since the Unix epoch"
    if value >= MS_FLOOR:
        return "unit", "must be in seconds, but the value looks like milliseconds"
    return age_problem(value, now, max_age, future)


def millis_problem(
    value: Any, now: float, max_age: float, future: float = FUTURE_SKEW
) -> tuple[str, str] | None:
    """As `seconds_problem`, for a timestamp in epoch milliseconds."""
    if type(value) is not int:
        return "type", "must be an integer number of milliseconds since the Unix epoch"
    if value < MS_FLOOR:
        return "unit", "must be in milliseconds, but the value looks like seconds"
    if value >= MS_CEIL:
        return "unit", "must be in milliseconds, but the value looks like microseconds"
    return age_problem(value / 1000, now, max_age, future)


def parse_rfc3339(value: Any) -> float | None:
    """Unix seconds of an RFC 3339 timestamp with a zone (``Z`` or an offset), else None."""
    if type(value) is not str or len(value) < 20 or value[10] != "T":
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return None if parsed.tzinfo is None else parsed.timestamp()


GOOGLE_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}:\d{2}")
"""Google Ads date-times: ``yyyy-mm-dd hh:mm:ss+hh:mm`` (the offset is required)."""


def parse_google_datetime(value: Any) -> float | None:
    """Unix seconds of a Google Ads date-time, else None."""
    if type(value) is not str or GOOGLE_DATETIME.fullmatch(value) is None:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def iso(seconds: float) -> str:
    """Unix seconds as an ISO 8601 UTC string with milliseconds."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def load_json(body: bytes) -> Any:
    """The parsed request body; raises ``ValueError`` when it is not JSON."""
    return orjson.loads(body)


def load_form(body: bytes) -> dict[str, str]:
    """A form-encoded body as a dict (last value wins)."""
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def token_ok(token: Any) -> bool:
    """The emulator's auth rule: any non-empty token not starting with ``invalid``."""
    return type(token) is str and token != "" and not token.startswith("invalid")


def bearer(headers: dict[str, str]) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    value = headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def new_uuid() -> str:
    """A random UUID string (request and correlation IDs)."""
    return str(uuid.uuid4())


def trace_id() -> str:
    """A random opaque trace ID, as Meta's ``fbtrace_id``."""
    return secrets.token_urlsafe(12)


def take_digest(value: Any, sink: Sink) -> bool:
    """One digest (a string, not a list): as `take_hashed`."""
    if sink is None:
        return is_sha256(value)
    if type(value) is not str:
        return False
    sink.append(value)
    return True


Check = Callable[[Any, float, Sink], Problem | None]
"""A per-element check: ``(element, now, sink) -> first problem or None``."""


def _scan_once(
    elements: list[Any],
    check: Check,
    now: float,
    reject: frozenset[int],
    injected: Problem,
    sink: Sink,
) -> list[tuple[int, Problem]]:
    bad: list[tuple[int, Problem]] = []
    for i, element in enumerate(elements):
        problem = injected if i in reject else check(element, now, sink)
        if problem is not None:
            bad.append((i, problem))
    return bad


def scan(
    elements: list[Any], check: Check, now: float, reject: frozenset[int], injected: Problem
) -> list[tuple[int, Problem]]:
    """Every invalid element as ``(index, problem)``; indices in ``reject`` get ``injected``.

    The first pass defers hashed values and checks them together; only when one of them
    is invalid does a second pass check each element on its own to find the culprits.
    """
    sink: list[Any] = []
    bad = _scan_once(elements, check, now, reject, injected, sink)
    if hashes_ok(sink):
        return bad
    return _scan_once(elements, check, now, reject, injected, None)
