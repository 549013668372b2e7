"""Reading a request body into raw events, without building Python objects for them.

msgspec checks the whole body is valid JSON but hands each event back as ``Raw`` (its
bytes, exactly as sent, big integers included): the sink never pays for decoding and
freeing every event's dicts. Line breaks in a valid JSON body can only be whitespace, so
they are blanked first and every event fits on one NDJSON line.

``nesting_depth`` measures how deeply a body nests without parsing it (msgspec recurses
once per level), so the sink can refuse a hostile body before any decoder sees it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

SINGLE_EVENT_KEYS = frozenset({"event", "event_name"})
"""A body object without ``events`` is one event when it has one of these keys."""
IDENTIFY_KEYS = frozenset({"traits", "user_traits"})
"""...or one identify record when it has one of these, or ``"type": "identify"``."""

_TOP = msgspec.json.Decoder(dict[str, msgspec.Raw])
_LIST = msgspec.json.Decoder(list[msgspec.Raw])
_ANY = msgspec.json.Decoder()
_BYTE_AT = re.compile(r"\(byte (\d+)\)")
_WHITESPACE = b" \t\r\n"
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')
_NESTING = bytes(1 if c in b"[{" else 255 if c in b"]}" else 0 for c in range(256))
"""Opening brackets to +1, closing ones to -1 (as int8), anything else to 0."""
_SURROGATE = re.compile(
    rb"\\\\|\\u[dD][89abAB][0-9a-fA-F]{2}(?:\\u[dD][c-fC-F][0-9a-fA-F]{2})?"
    rb"|\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
"""An escaped backslash (skipped, so ``\\\\ud800`` is text), a surrogate pair, or a lone
surrogate escape."""


class BodyError(ValueError):
    """The body is JSON but not a batch the sink accepts (a 400)."""

    def __init__(self, code: str, message: str, **detail: Any) -> None:
        super().__init__(message)
        self.code = code
        self.detail = detail


class InvalidJson(ValueError):
    """The body is not valid JSON; ``position`` is the byte offset of the problem."""

    def __init__(self, message: str, body: bytes, position: int) -> None:
        self.position = position
        self.line = body.count(b"\n", 0, position) + 1
        self.column = position - body.rfind(b"\n", 0, position)
        super().__init__(f"{message} (line {self.line}, column {self.column})")


@dataclass(frozen=True)
class Parsed:
    """A request body as raw events (slices of ``body``)."""

    body: bytes
    """The body with its line breaks blanked."""
    events: list[msgspec.Raw]
    context: dict[str, msgspec.Raw] | None
    """Keys of a batch body besides ``events`` (kept, as sent, in the batch header)."""
    single: dict[str, Any] | None
    """The decoded event, when the body is one event object (the seed 002 shape)."""


def nesting_depth(body: bytes) -> int:
    """How deeply arrays and objects nest in ``body`` (``[]`` is 1, ``{"a": [1]}`` 2),
    brackets inside strings not counted; exact for valid JSON, linear, no recursion."""
    if b"\\" in body:  # escaped backslashes, then escaped quotes: no quote is escaped after
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    # Only quotes and brackets are left. Removing adjacent quotes drops empty strings or
    # joins two strings into one, so every bracket stays inside or outside a string.
    structure = body.translate(None, _NOT_STRUCTURE).replace(b'""', b"")
    if b'"' in structure:
        structure = b"".join(structure.split(b'"')[::2])
    if not structure:
        return 0
    steps = np.frombuffer(structure.translate(_NESTING), np.int8)
    return int(np.cumsum(steps, dtype=np.int32).max())


def lone_surrogate(body: bytes) -> int | None:
    """The offset of the first ``\\uD800``-``\\uDFFF`` escape that is not half of a pair."""
    for found in _SURROGATE.finditer(body):
        if len(found[0]) == 6:
            return found.start()
    return None


def _invalid(exc: msgspec.DecodeError, body: bytes) -> InvalidJson:
    text = str(exc)
    found = _BYTE_AT.search(text)
    position = int(found.group(1)) if found else len(body)
    if b"\\u" in body:  # msgspec's words for a lone surrogate vary and mislead
        lone = lone_surrogate(body)
        if lone is not None and lone <= position:
            escape = body[lone : lone + 6].decode()
            rule = (
                "a high surrogate (\\uD800-\\uDBFF) must be followed by a low one"
                if escape[3].lower() in "89ab"
                else "a low surrogate (\\uDC00-\\uDFFF) must follow a high one"
            )
            return InvalidJson(
                f"the body is not valid JSON: {escape} is a lone UTF-16 surrogate escape, "
                f"not a character ({rule})",
                body,
                lone,
            )
    return InvalidJson(f"the body is not valid JSON: {text}", body, position)


def _is_identify(top: dict[str, msgspec.Raw]) -> bool:
    if not IDENTIFY_KEYS.isdisjoint(top):
        return True
    kind = _ANY.decode(top["type"]) if "type" in top else None
    return isinstance(kind, str) and kind.strip().lower() == "identify"


def parse_body(body: bytes) -> Parsed:
    """Raw events of ``{"events": [...]}``, ``[...]`` or one event object; raises
    ``InvalidJson`` or ``BodyError``."""
    flat = body.replace(b"\n", b" ").replace(b"\r", b" ") if b"\n" in body else body
    start = flat.lstrip(_WHITESPACE)[:1]
    try:
        if start == b"[":
            return Parsed(flat, _LIST.decode(flat), None, None)
        if start != b"{":
            _ANY.decode(flat)
            raise BodyError(
                "invalid_body",
                'the body must be {"events": [...]}, an array of events or one event object',
            )
        top = _TOP.decode(flat)
        if "events" in top:
            try:
                events = _LIST.decode(top.pop("events"))
            except msgspec.ValidationError:
                raise BodyError(
                    "invalid_body", '"events" must be an array of event objects'
                ) from None
            context = dict(top) or None
            return Parsed(flat, events, context, None)
    except msgspec.ValidationError as exc:
        raise BodyError("invalid_body", f"unexpected body: {exc}") from None
    except msgspec.DecodeError as exc:
        raise _invalid(exc, body) from None
    if SINGLE_EVENT_KEYS.isdisjoint(top) and not _is_identify(top):
        raise BodyError(
            "invalid_body",
            'the body has no "events" array and is not an event (no "event" or '
            '"event_name") nor an identify record (no "type": "identify" or "traits"); '
            'send {"events": [...]}',
        )
    single = {k: _ANY.decode(v) for k, v in top.items()}
    return Parsed(flat, [msgspec.Raw(flat)], None, single)
