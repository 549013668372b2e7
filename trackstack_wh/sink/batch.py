"""From a request body to the bytes of one landing batch.

The body is parsed once (orjson). Events are written as sent, apart from what the sink
owns: its stamps (``edgeBatchId``, ``projectId``, ``edgeReceivedAt``) go first, a
``projectKey`` is never written (it may be a credential), client IPs follow the
project's policy, and a browser request's own IP and user agent fill in where an event
has none. Anything that is not an event object is still written, as it came, for ingest
to quarantine with its reason.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from trackstack_wh.contract import FIELDS_BY_NAME
from trackstack_wh.sink.segments import HEADER_KEY
from trackstack_wh.sink.settings import IpPolicy, KeyKind

STAMPS = ("edgeBatchId", "projectId", "edgeReceivedAt")
KEY_FIELDS = ("projectKey", *FIELDS_BY_NAME["projectKey"].aliases)
IP_FIELDS = ("clientIp", *FIELDS_BY_NAME["clientIp"].aliases)
UA_FIELDS = ("userAgent", *FIELDS_BY_NAME["userAgent"].aliases)
SINGLE_EVENT_KEYS = frozenset({"event", "event_name", "eventId", "projectKey"})
"""A body object without ``events`` is one event when it has one of these keys."""


class BodyError(ValueError):
    """The body is JSON but not a batch the sink accepts (a 400)."""

    def __init__(self, code: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Parsed:
    """A request body as a list of events."""

    events: list[Any]
    context: dict[str, Any] | None
    """Keys of a batch body besides ``events`` (kept in the batch header)."""
    single: dict[str, Any] | None
    """The event, when the body is one event object (the seed 002 shape)."""
    exact: bool = True
    """False when orjson could not read the body (integers past 64 bits) and the standard
    library did: the events are then written with it."""


_DIGITS_TO_NUL = bytes.maketrans(b"0123456789", b"\0" * 10)
_LONG_DIGIT_RUN = b"\0" * 19
"""Nineteen digits in a row: the shortest integer literal past 64 bits (-2**63 - 1)."""


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_body(body: bytes) -> Parsed:
    """The events of a body; raises ``json.JSONDecodeError`` (with its position) or
    ``BodyError``."""
    doc = orjson.loads(body)
    exact = body.translate(_DIGITS_TO_NUL).find(_LONG_DIGIT_RUN) < 0
    if not exact:
        # orjson reads integers past 64 bits as floats (losing digits); the standard
        # library keeps them exact, at a few times the cost, for bodies that may hold one.
        doc = json.loads(body, parse_constant=_reject_constant)
    if isinstance(doc, list):
        return Parsed(doc, None, None, exact)
    if not isinstance(doc, dict):
        raise BodyError(
            "invalid_body",
            'the body must be {"events": [...]}, an array of events or one event object',
        )
    if "events" in doc:
        events = doc["events"]
        if not isinstance(events, list):
            raise BodyError("invalid_body", '"events" must be an array of event objects')
        context = {k: v for k, v in doc.items() if k != "events"} or None
        return Parsed(events, context, None, exact)
    if SINGLE_EVENT_KEYS.isdisjoint(doc):
        raise BodyError(
            "invalid_body",
            'the body has no "events" array and is not an event (no "event" or '
            '"event_name"); send {"events": [...]}',
        )
    return Parsed([doc], None, doc, exact)


@lru_cache(maxsize=65_536)
def truncate_ip(value: str) -> str | None:
    """IPv4 to its /24, IPv6 to its /48 (None when ``value`` is not an IP address)."""
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def apply_ip_policy(value: Any, policy: IpPolicy) -> str | None:
    """A client IP as the project's policy allows it to be stored."""
    if policy is IpPolicy.DROP or not isinstance(value, str):
        return None
    return value if policy is IpPolicy.FULL else truncate_ip(value)


@dataclass(frozen=True)
class Envelope:
    """What the sink knows about a request, written in the batch header."""

    batch_id: str
    received_at: str
    project: str
    key_kind: KeyKind
    ip_policy: IpPolicy
    origin: str | None
    sdk_version: str | None
    client_ip: str | None
    """After the IP policy."""
    user_agent: str | None


def _scrub_ips(event: dict[str, Any], policy: IpPolicy) -> None:
    for obj in (event, event.get("userData")):
        if not isinstance(obj, dict):
            continue
        for name in IP_FIELDS:
            if name in obj:
                kept = apply_ip_policy(obj[name], policy)
                if kept is None:
                    del obj[name]
                else:
                    obj[name] = kept


def _has_any(event: dict[str, Any], names: tuple[str, ...]) -> bool:
    nested = event.get("userData")
    return any(n in event for n in names) or (
        isinstance(nested, dict) and any(n in nested for n in names)
    )


REDACTED = b"[redacted-key]"


def batch_blob(parsed: Parsed, envelope: Envelope, body_bytes: int, key: bytes) -> bytes:
    """The landing bytes of one batch: its header line, then one line per event.

    ``key`` (the request's key) is replaced wherever it still appears, e.g. pasted into
    some other field: keys are URL-safe text, so this never breaks the JSON."""
    header: dict[str, Any] = {
        "batchId": envelope.batch_id,
        "receivedAt": envelope.received_at,
        "project": envelope.project,
        "keyKind": envelope.key_kind.value,
        "origin": envelope.origin,
        "sdkVersion": envelope.sdk_version,
        "clientIp": envelope.client_ip,
        "userAgent": envelope.user_agent,
        "events": len(parsed.events),
        "bytes": body_bytes,
    }
    if parsed.context:
        header["context"] = {k: v for k, v in parsed.context.items() if k not in KEY_FIELDS}
    dumps: Callable[[Any], bytes] = orjson.dumps if parsed.exact else _std_dumps
    stamps = {
        "edgeBatchId": envelope.batch_id,
        "projectId": envelope.project,
        "edgeReceivedAt": envelope.received_at,
    }
    prefix = orjson.dumps(stamps)[:-1]
    browser = envelope.key_kind is KeyKind.PUBLISHABLE
    lines = [dumps({HEADER_KEY: header})]
    for event in parsed.events:
        if not isinstance(event, dict):
            lines.append(dumps(event))
            continue
        for name in STAMPS + KEY_FIELDS:
            event.pop(name, None)
        _scrub_ips(event, envelope.ip_policy)
        if browser:
            if envelope.client_ip is not None and not _has_any(event, IP_FIELDS):
                event["clientIp"] = envelope.client_ip
            if envelope.user_agent is not None and not _has_any(event, UA_FIELDS):
                event["userAgent"] = envelope.user_agent
        body = dumps(event)
        lines.append(prefix + (b"," + body[1:] if len(body) > 2 else b"}"))
    lines.append(b"")
    blob = b"\n".join(lines)
    return blob.replace(key, REDACTED) if key in blob else blob


def _std_dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
