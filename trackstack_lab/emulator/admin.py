"""The admin API under ``/_emulator``: health, stats, records, faults, reset, clock and
auth (issued-token counters; ``token_lifetime`` / ``revoked`` / ``wrong_scope`` switches)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from trackstack_lab.emulator.state import parse_fault
from trackstack_lab.emulator.wire import Reply

if TYPE_CHECKING:
    from trackstack_lab.emulator.app import Emulator

PREFIX = "/_emulator"


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"ok": False, "error": message})


def _json_object(body: bytes) -> dict[str, Any] | None:
    try:
        parsed = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _records(emulator: Emulator, query: dict[str, str]) -> Reply:
    destination = query.get("destination", "")
    state = emulator.states.get(destination)
    if state is None:
        return _error(404, f"unknown destination {destination!r}")
    objects = {f"{kind}/{key}": fields for (kind, key), fields in state.records.items()}
    return Reply(200, {"identities": state.identities, "objects": objects})


def _faults(emulator: Emulator, body: dict[str, Any]) -> Reply:
    try:
        destination, fault = parse_fault(body)
    except ValueError as exc:
        return _error(400, str(exc))
    state = emulator.states.get(destination)
    if state is None:
        return _error(404, f"unknown destination {destination!r}")
    state.faults.append(fault)
    return Reply(200, {"ok": True, "destination": destination, "queued": len(state.faults)})


def _clock(emulator: Emulator, body: dict[str, Any]) -> Reply:
    now = body.get("now")
    try:
        emulator.clock.set(None if now is None else datetime.fromisoformat(str(now)))
    except ValueError:
        return _error(400, "now must be an ISO 8601 date-time")
    return Reply(200, {"ok": True, "clock": emulator.clock.iso()})


def _auth(emulator: Emulator, body: dict[str, Any]) -> Reply:
    state = emulator.states.get(str(body.get("destination", "")))
    if state is None:
        return _error(404, f"unknown destination {body.get('destination')!r}")
    try:
        state.tokens.configure(body)
    except ValueError as exc:
        return _error(400, str(exc))
    return Reply(200, {"ok": True, **state.tokens.stats()})


def _reset(emulator: Emulator) -> Reply:
    for state in emulator.states.values():
        state.reset()
    return Reply(200, {"ok": True})


def handle_admin(
    emulator: Emulator, method: str, path: str, query: dict[str, str], body: bytes
) -> Reply:
    """Answer one admin request."""
    name = path[len(PREFIX) :].strip("/")
    if method == "GET":
        if name == "health":
            return Reply(200, {"ok": True, "clock": emulator.clock.iso()})
        if name == "stats":
            return Reply(200, {d: s.stats() for d, s in emulator.states.items()})
        if name == "records":
            return _records(emulator, query)
        if name == "auth":
            return Reply(200, {d: s.tokens.stats() for d, s in emulator.states.items()})
    elif method == "POST" and name in ("faults", "reset", "clock", "auth"):
        if name == "reset":
            return _reset(emulator)
        parsed = _json_object(body)
        if parsed is None:
            return _error(400, "the body must be a JSON object")
        handler = {"faults": _faults, "clock": _clock, "auth": _auth}[name]
        return handler(emulator, parsed)
    known = {"health": "GET", "stats": "GET", "records": "GET", "auth": "GET, POST"}
    known.update(dict.fromkeys(("faults", "reset", "clock"), "POST"))
    if name in known:
        return Reply(405, {"ok": False, "error": "method not allowed"}, [("allow", known[name])])
    return _error(404, f"no admin route {path}")
