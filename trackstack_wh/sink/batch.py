"""From parsed raw events to the bytes of one landing batch.

Events are written as sent, apart from what the sink owns: no project's key is ever
written (replaced wherever it appears, however it is escaped: see ``redact``), client IPs
follow the project's policy, and a
browser request's own IP and user agent fill in where an event has none. Anything that is
not an event object is still written, as it came, for ingest to quarantine with its
reason. The sink's stamps (batch id, project, receive time) are added by ingest from the
batch header, so nothing here touches an event it has no reason to.

The usual case is handled on bytes: IP values are found as ``"clientIp":"..."`` in the
joined events and rewritten in place. Anything unusual (an IP key written with spaces, a
value that is not an IP, the ``drop`` policy, an event that would start like a batch
header) sends the batch down the slow path, which decodes each event.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import msgspec

from trackstack_wh.config import IpPolicy, KeyKind
from trackstack_wh.contract import FIELDS_BY_NAME
from trackstack_wh.sink.body import Parsed
from trackstack_wh.sink.redact import KeyRedactor
from trackstack_wh.sink.segments import HEADER_KEY, HEADER_PREFIX

IP_FIELDS = ("clientIp", *FIELDS_BY_NAME["clientIp"].aliases)
UA_FIELDS = ("userAgent", *FIELDS_BY_NAME["userAgent"].aliases)
_QUOTED_IP = tuple(f'"{name}"'.encode() for name in IP_FIELDS)
_QUOTED_UA = tuple(f'"{name}"'.encode() for name in UA_FIELDS)
_encode = msgspec.json.encode
_decode = msgspec.json.Decoder().decode


@lru_cache(maxsize=65_536)
def truncate_ip(value: str) -> str | None:
    """IPv4 to its /24, IPv6 to its /48 (None when ``value`` is not an IP address)."""
    octets = value.split(".")
    if len(octets) == 4 and all(_octet(o) for o in octets):
        return f"{octets[0]}.{octets[1]}.{octets[2]}.0"
    try:
        address = ipaddress.ip_address(value.strip())
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 48
    return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)


def _octet(text: str) -> bool:
    """A canonical IPv4 octet: 0-255 without leading zeros (fast path of truncate_ip)."""
    return (
        0 < len(text) <= 3
        and text.isascii()
        and text.isdigit()
        and (text == "0" or text[0] != "0")
        and int(text) <= 255
    )


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


def batch_blob(parsed: Parsed, envelope: Envelope, body_bytes: int, redact: KeyRedactor) -> bytes:
    """The landing bytes of one batch: its header line, then one line per event, with
    every key ``redact`` knows taken out."""
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
        header["context"] = parsed.context
    events = _fast_lines(parsed, envelope)
    if events is None:
        events = _slow_lines(parsed, envelope)
    blob = b"".join((_encode({HEADER_KEY: header}), b"\n", events, b"\n"))
    return redact(blob)


def _fast_lines(parsed: Parsed, envelope: Envelope) -> bytes | None:
    """The events joined by newlines, IPs rewritten on the bytes; None when the batch
    needs the slow path."""
    policy = envelope.ip_policy
    if policy is IpPolicy.DROP:
        return None
    raws: list[Any] = parsed.events
    if envelope.key_kind is KeyKind.PUBLISHABLE:
        raws = [_fill_browser_context(bytes(raw), envelope) for raw in raws]
    joined = b"\n".join(raws)
    if joined.startswith(HEADER_PREFIX) or b"\n" + HEADER_PREFIX in joined:
        return None
    if policy is IpPolicy.FULL:
        return joined
    for quoted in _QUOTED_IP:
        if quoted in joined:
            rewritten = _truncate_ip_values(joined, quoted)
            if rewritten is None:
                return None
            joined = rewritten
    return joined


def _truncate_ip_values(data: bytes, quoted: bytes) -> bytes | None:
    """Every ``"<name>":"<ip>"`` in ``data`` with the IP truncated; None when an
    occurrence of the name is anything else (spaced, escaped, not a string, not an IP)."""
    compact = quoted + b':"'
    parts: list[bytes] = []
    done = rewritten = 0
    at = data.find(compact)
    while at >= 0:
        start = at + len(compact)
        end = data.find(b'"', start)
        if end < 0 or (at and data[at - 1] == 0x5C):
            return None
        kept = _truncated_bytes(data[start:end])
        if kept is None:
            return None
        parts += (data[done:start], kept)
        done = end
        rewritten += 1
        at = data.find(compact, end)
    if rewritten != data.count(quoted):
        return None
    parts.append(data[done:])
    return b"".join(parts)


_TRUNCATED: dict[bytes, bytes | None] = {}


def _truncated_bytes(value: bytes) -> bytes | None:
    """``truncate_ip`` on bytes, remembered (the cache is cleared when it grows large)."""
    kept = _TRUNCATED.get(value, b"")
    if kept == b"":
        if len(_TRUNCATED) > 65_536:
            _TRUNCATED.clear()
        text = None if b"\\" in value else truncate_ip(value.decode("utf-8", "replace"))
        kept = _TRUNCATED[value] = None if text is None else text.encode()
    return kept


def _fill_browser_context(raw: bytes, envelope: Envelope) -> bytes:
    """A browser's own IP and user agent, added to an event object that has none."""
    if not raw.startswith(b"{"):
        return raw
    added = []
    if envelope.client_ip is not None and not any(q in raw for q in _QUOTED_IP):
        added.append(b'"clientIp":' + _encode(envelope.client_ip))
    if envelope.user_agent is not None and not any(q in raw for q in _QUOTED_UA):
        added.append(b'"userAgent":' + _encode(envelope.user_agent))
    if not added:
        return raw
    rest = raw[1:]
    separator = b"" if rest.lstrip().startswith(b"}") else b","
    return b"{" + b",".join(added) + separator + rest


def _slow_lines(parsed: Parsed, envelope: Envelope) -> bytes:
    """Decode every event and apply the same rules on its objects."""
    policy = envelope.ip_policy
    browser = envelope.key_kind is KeyKind.PUBLISHABLE
    lines = []
    for raw in parsed.events:
        event = _decode(raw)
        if type(event) is not dict:
            lines.append(bytes(raw))
            continue
        if policy is not IpPolicy.FULL:
            _scrub_ips(event, policy)
            nested = event.get("userData")
            if type(nested) is dict:
                _scrub_ips(nested, policy)
        if browser:
            if envelope.client_ip is not None and not _has_any(event, IP_FIELDS):
                event["clientIp"] = envelope.client_ip
            if envelope.user_agent is not None and not _has_any(event, UA_FIELDS):
                event["userAgent"] = envelope.user_agent
        if HEADER_KEY in event:
            event = {"edgeBatchId": envelope.batch_id, **event}  # never mistaken for a header
        lines.append(_encode(event))
    return b"\n".join(lines)


def _scrub_ips(obj: dict[str, Any], policy: IpPolicy) -> None:
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
        type(nested) is dict and any(n in nested for n in names)
    )
