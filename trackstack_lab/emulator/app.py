"""The emulator as a plain ASGI application.

``/<destination>/...`` goes to that platform's routes, ``/_emulator/...`` to the admin
API. Token and credential-check routes answer at once (``auth``: no fault, not counted).
Before a data route's handler runs, the destination's next queued fault (if any) decides
whether it runs at all (``429``, ``500``, ``503``, ``throttle``, ``auth``), runs later
(``slow``), runs with some elements forced invalid (``reject``), or runs and then answers
late (``timeout``) or not at all (``drop``); an expired, revoked or under-scoped token
gets the platform's refusal instead of the handler's answer.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from urllib.parse import parse_qsl

import orjson

from trackstack_lab.emulator.admin import PREFIX, handle_admin
from trackstack_lab.emulator.auth import auth_routes, denial
from trackstack_lab.emulator.platforms import PLATFORMS
from trackstack_lab.emulator.state import Clock, DestinationState, Fault
from trackstack_lab.emulator.wire import Call, Handler, Platform, Reply
from trackstack_wh.serving import ClientGone, Message, Receive, Scope, Send, lifespan_noop

log = logging.getLogger(__name__)
NO_REJECTS: frozenset[int] = frozenset()
NO_FAULT = Fault("none")
REFUSING_FAULTS = frozenset({"429", "500", "503", "throttle", "auth"})
ROUTES = {name: (*p.routes, *auth_routes(name)) for name, p in PLATFORMS.items()}
"""Each platform's data routes, then its check and token routes."""


class DroppedConnection(Exception):
    """Raised after a response has started, so the server closes the connection."""


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _start(reply: Reply) -> tuple[Message, bytes]:
    raw = isinstance(reply.body, bytes)  # e.g. a proxy's HTML page, typed in reply.headers
    body = b"" if reply.body is None else reply.body if raw else orjson.dumps(reply.body)
    headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
    if reply.body is not None and not raw:
        headers.append((b"content-type", b"application/json"))
    if reply.status != 204:
        headers.append((b"content-length", str(len(body)).encode()))
    return {"type": "http.response.start", "status": reply.status, "headers": headers}, body


def _cut_off_start(reply: Reply) -> Message:
    """Response headers announcing a body that never comes (a 204 would be complete)."""
    start, body = _start(reply)
    headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
    headers.append((b"content-length", str(max(len(body), 1)).encode()))
    return {**start, "status": 200 if reply.status == 204 else reply.status, "headers": headers}


async def _respond(send: Send, reply: Reply) -> None:
    start, body = _start(reply)
    await send(start)
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _fault_reply(platform: Platform, fault: Fault) -> Reply:
    """The answer a refusing fault gives instead of running the handler."""
    if fault.kind == "auth":
        return platform.auth_error()
    if fault.kind in ("500", "503"):
        return platform.server_error(int(fault.kind))
    reply = platform.throttled() if fault.kind == "throttle" else platform.rate_limited()
    if reply.status == 429 and fault.retry_after is not None:
        reply.headers.append(("Retry-After", fault.retry_after))
    return reply


def _not_found(method: str, path: str) -> Reply:
    return Reply(404, {"error": {"code": 404, "message": f"No route for {method} {path}"}})


class Emulator:
    """An ASGI app emulating every destination, with recording and fault injection."""

    def __init__(self, clock: datetime | None = None) -> None:
        self.clock = Clock(clock)
        self.states: dict[str, DestinationState] = {name: DestinationState() for name in PLATFORMS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan_noop(receive, send)
            return
        if scope["type"] != "http":
            return
        try:
            body = await _read_body(receive)
        except ClientGone:
            return
        method, path = scope["method"], scope["path"]
        query = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        if path == PREFIX or path.startswith(PREFIX + "/"):
            await _respond(send, handle_admin(self, method, path, query, body))
            return
        destination, _, rest = path[1:].partition("/")
        platform = PLATFORMS.get(destination)
        if platform is None:
            await _respond(send, _not_found(method, path))
            return
        for candidate in ROUTES[destination]:
            match = candidate.pattern.fullmatch("/" + rest)
            if match is not None:
                break
        else:
            await _respond(send, _not_found(method, path))
            return
        handler = candidate.handlers.get(method)
        if handler is None:
            allow = ", ".join(candidate.handlers)
            reply = Reply(405, {"error": {"code": 405, "message": "Method Not Allowed"}})
            reply.headers.append(("Allow", allow))
            await _respond(send, reply)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        call = Call(destination, method, match, query, headers, body, 0.0, self.states[destination])
        if not candidate.counted:  # the auth plane: no faults, not in the stats
            call.now = self.clock.now()
            await _respond(send, self._run(platform, handler, call))
            return
        await self._dispatch(platform, handler, call, send)

    async def _dispatch(self, platform: Platform, handler: Handler, call: Call, send: Send) -> None:
        state = call.state
        state.requests += 1
        fault = state.next_fault() or NO_FAULT
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        if fault.kind in REFUSING_FAULTS:
            reply = _fault_reply(platform, fault)
        else:
            call.now = self.clock.now()
            call.reject = fault.indices if fault.kind == "reject" else NO_REJECTS
            reply = denial(call) or self._run(platform, handler, call)
        if reply.accepted:
            state.accepted_requests += 1
        else:
            state.rejected_requests += 1
        state.rejected_events += reply.rejected_events
        if fault.kind == "timeout":
            await asyncio.sleep(fault.delay)
        elif fault.kind == "drop":
            await send(_cut_off_start(reply))
            raise DroppedConnection(f"drop fault on {call.destination}")
        await _respond(send, reply)

    @staticmethod
    def _run(platform: Platform, handler: Handler, call: Call) -> Reply:
        try:
            return handler(call)
        except Exception as exc:
            log.exception("emulator handler failed for %s", call.destination)
            reply = platform.server_error(500)
            reply.headers.append(("X-Emulator-Error", type(exc).__name__))
            return reply


def create_app(clock: datetime | None = None) -> Emulator:
    """A fresh emulator app (its clock pinned at ``clock``, else the real time)."""
    return Emulator(clock)
