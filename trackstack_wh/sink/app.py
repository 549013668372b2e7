"""The HTTP sink as a plain ASGI application.

``POST /events`` checks, in this order, and answers with the first problem found:
content type (415), declared size (413), key (401), origin (403), the body's arrival
within ``body_timeout_seconds`` (408), actual size (413), gzip (400), nesting depth (400
``too_deep``), JSON (400, with the position), shape (400), event count (413), the
project's daily quota (429). A request without ``x-ts-key`` may carry the key as the seed
002 body's ``projectKey``; its body is read first, and anything short of that shape is a
401 (a body the sink cannot read, too slow, too large, too deep or bad gzip, is refused
as such first). The 202 ``{"accepted": n, "batch_id": ...}`` is sent only after the batch
is fsync'd. An unexpected exception is a JSON 500 ``{"error": "internal"}``, counted in
/metrics and logged in one line (once per exception type and place), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import orjson

from trackstack_wh.config import KeyKind, Project, ProjectKey, WorkspaceConfig
from trackstack_wh.config.checks import host_allowed
from trackstack_wh.serving import ClientGone, Message, Receive, Scope, Send
from trackstack_wh.sink.auth import KeyRing, Refusal, check_origin, origin_host
from trackstack_wh.sink.batch import Envelope, apply_ip_policy, batch_blob
from trackstack_wh.sink.body import BodyError, InvalidJson, Parsed, parse_body
from trackstack_wh.sink.intake import check_depth, read_body, too_large
from trackstack_wh.sink.landing import GroupCommitter, Landed, LandingError, SegmentWriter
from trackstack_wh.sink.metrics import SinkMetrics
from trackstack_wh.sink.openapi import openapi_document
from trackstack_wh.sink.redact import KeyRedactor
from trackstack_wh.sink.segments import Usage

log = logging.getLogger(__name__)

ALLOWED_HEADERS = b"content-type, content-encoding, x-ts-key, x-ts-domain, x-sdk-version"
PREFLIGHT_MAX_AGE = b"600"
LANDING_RETRY_AFTER = "5"
ROUTES = {
    "/events": ("POST", "OPTIONS"),
    "/healthz": ("GET",),
    "/metrics": ("GET",),
    "/openapi.json": ("GET",),
}


class SinkApp:
    """POST /events, its CORS preflight, /healthz, /metrics and /openapi.json."""

    def __init__(self, config: WorkspaceConfig, writer: SegmentWriter, keys: list[ProjectKey]):
        self.settings = config.sink
        self.projects = list(config.projects.values())
        self.writer = writer
        self.keys = KeyRing(keys)
        self.redact = KeyRedactor(k.secret for k in keys)
        """Every project's keys, whichever key a request comes with."""
        self.metrics = SinkMetrics()
        self.committer: GroupCommitter | None = None
        self.admitted = Usage().merged(writer.usage)
        """Events admitted per (day, project): what the quota is checked against."""
        self._openapi = orjson.dumps(openapi_document())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self._route(scope, receive, tracked)
        except Exception as exc:
            self.metrics.internal_error(exc, f"{scope.get('method')} {scope.get('path')}")
            if not started:
                message = "the sink failed on this request; it is logged, retry later"
                await _respond(send, 500, _error_body("internal", message))

    async def _route(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        headers = dict(scope["headers"])
        methods = ROUTES.get(path)
        if methods is None:
            await _respond(send, 404, _error_body("not_found", f"no route for {path}"))
        elif method not in methods:
            allow = ", ".join(methods).encode()
            message = f"{path} answers {', '.join(methods)}"
            await _respond(
                send, 405, _error_body("method_not_allowed", message), [(b"allow", allow)]
            )
        elif path == "/events":
            if method == "POST":
                await self._post_events(scope, headers, receive, send)
            else:
                await self._preflight(headers, send)
        elif path == "/healthz":
            await self._health(send)
        elif path == "/metrics":
            text = self.metrics.render(self.writer).encode()
            await _respond(send, 200, text, content_type=b"text/plain; version=0.0.4")
        else:
            await _respond(send, 200, self._openapi)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.committer = GroupCommitter(self.writer)
                self.committer.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.committer is not None:
                    await self.committer.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _health(self, send: Send) -> None:
        committer = self.committer
        failed = committer is None or committer.failed is not None
        body = {
            "status": "failing" if failed else "ok",
            "open_segment": self.writer.open_segment or None,
        }
        if committer is not None and committer.failed is not None:
            body["error"] = f"landing write failed: {committer.failed}"
        await _respond(send, 503 if failed else 200, orjson.dumps(body))

    def _cors(
        self, headers: dict[bytes, bytes], projects: list[Project]
    ) -> list[tuple[bytes, bytes]]:
        """CORS response headers: the Origin is echoed only when one of ``projects``
        allows it."""
        origin = headers.get(b"origin")
        if origin is None:
            return []
        host = origin_host(origin.decode("latin-1"))
        if host is None or not any(host_allowed(host, p.allowed_origins) for p in projects):
            return [(b"vary", b"origin")]
        return [
            (b"access-control-allow-origin", origin),
            (b"vary", b"origin"),
            (b"access-control-expose-headers", b"retry-after"),
        ]

    async def _preflight(self, headers: dict[bytes, bytes], send: Send) -> None:
        cors = self._cors(headers, self.projects)
        if not any(name == b"access-control-allow-origin" for name, _ in cors):
            self.metrics.rejections["preflight_origin_not_allowed"] += 1
            self.metrics.requests["403"] += 1
            message = "this origin is not allowed for any project"
            await _respond(send, 403, _error_body("origin_not_allowed", message), cors)
            return
        cors += [
            (b"access-control-allow-methods", b"POST, OPTIONS"),
            (b"access-control-allow-headers", ALLOWED_HEADERS),
            (b"access-control-max-age", PREFLIGHT_MAX_AGE),
        ]
        self.metrics.requests["204"] += 1
        await _respond(send, 204, b"", cors)

    async def _post_events(
        self, scope: Scope, headers: dict[bytes, bytes], receive: Receive, send: Send
    ) -> None:
        project_scope = self.projects
        try:
            key = self._check_request(headers)
            if key is not None:
                project_scope = [key.project]
            body = await read_body(headers, receive, self.settings)
            check_depth(body, self.settings.max_depth)
            parsed, key = self._parse(body, key)
            project_scope = [key.project]
            envelope = self._admit(scope, headers, parsed, key)
            accepted = await self._land(parsed, envelope, len(body))
        except ClientGone:
            return
        except Refusal as refusal:
            self.metrics.rejections[refusal.code] += 1
            self.metrics.requests[str(refusal.status)] += 1
            extra = self._cors(headers, project_scope)
            if refusal.retry_after is not None:
                extra.append((b"retry-after", refusal.retry_after.encode()))
            if refusal.status in (408, 413):  # the rest of the body is not read
                extra.append((b"connection", b"close"))
            body_out = _error_body(refusal.code, str(refusal), **refusal.extra)
            await _respond(send, refusal.status, body_out, extra)
            return
        self.metrics.requests["202"] += 1
        self.metrics.events_accepted[envelope.project] += accepted
        payload = orjson.dumps({"accepted": accepted, "batch_id": envelope.batch_id})
        await _respond(send, 202, payload, self._cors(headers, project_scope))

    def _check_request(self, headers: dict[bytes, bytes]) -> ProjectKey | None:
        """Content type, declared length, and the header key with its origin."""
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype != b"application/json":
            raise Refusal(415, "unsupported_media_type", "send Content-Type: application/json")
        encoding = headers.get(b"content-encoding", b"identity").strip().lower()
        if encoding not in (b"identity", b"gzip"):
            raise Refusal(415, "unsupported_encoding", "Content-Encoding may be gzip or none")
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.settings.max_body_bytes:
            raise too_large(self.settings.max_body_bytes)
        presented = headers.get(b"x-ts-key")
        if presented is None:
            return None
        key = self.keys.find(presented)
        if key is None:
            raise Refusal(401, "unknown_key", "x-ts-key is not a key of any project")
        check_origin(key, headers)
        return key

    def _parse(self, body: bytes, key: ProjectKey | None) -> tuple[Parsed, ProjectKey]:
        try:
            parsed = parse_body(body)
        except RecursionError:  # check_depth comes first; this is only a backstop
            limit = self.settings.max_depth
            message = f"the body nests arrays and objects too deeply; the limit is {limit}"
            raise Refusal(400, "too_deep", message, limit=limit) from None
        except (BodyError, InvalidJson) as exc:
            if key is None:
                raise _missing_key() from None
            if isinstance(exc, BodyError):
                raise Refusal(400, exc.code, str(exc), **exc.detail) from None
            raise Refusal(
                400,
                "invalid_json",
                str(exc),
                position=exc.position,
                line=exc.line,
                column=exc.column,
            ) from None
        if key is None:
            body_key = parsed.single.get("projectKey") if parsed.single else None
            if not isinstance(body_key, str):
                raise _missing_key()
            key = self.keys.find(body_key.encode())
            if key is None:
                raise Refusal(401, "unknown_key", "projectKey is not a key of any project")
        return parsed, key

    def _admit(
        self, scope: Scope, headers: dict[bytes, bytes], parsed: Parsed, key: ProjectKey
    ) -> Envelope:
        """Origin, page URL, event count and quota; the batch's envelope if all pass."""
        project = key.project
        if b"x-ts-key" not in headers:
            check_origin(key, headers)
        single = parsed.single
        url = single.get("url") if single and key.kind is KeyKind.PUBLISHABLE else None
        if isinstance(url, str):
            host = origin_host(url)
            if host is None or not host_allowed(host, project.allowed_origins):
                raise Refusal(
                    403,
                    "url_not_allowed",
                    "the event's url is not on an allowed origin of the project",
                )
        count = len(parsed.events)
        limit = self.settings.max_events_per_request
        if count > limit:
            raise Refusal(
                413,
                "too_many_events",
                f"{count} events in one request; the limit is {limit}",
                limit=limit,
                events=count,
            )
        now_ns = time.time_ns()
        received = dt.datetime.fromtimestamp(now_ns / 1e9, dt.UTC)
        day = received.date().isoformat()
        used = self.admitted.events(day, project.project_id)
        quota = project.daily_event_quota
        if quota is not None and used + count > quota:
            midnight = dt.datetime.combine(
                received.date() + dt.timedelta(days=1), dt.time(), dt.UTC
            )
            refusal = Refusal(
                429,
                "quota_exceeded",
                f"project {project.project_id} has used {used} of its "
                f"{quota} events for {day} (UTC)",
                quota=quota,
                used=used,
                resets_at=midnight.isoformat(),
            )
            refusal.retry_after = str(max(1, math.ceil((midnight - received).total_seconds())))
            raise refusal
        client = scope.get("client")
        origin = headers.get(b"origin") or headers.get(b"x-ts-domain")
        sdk = headers.get(b"x-sdk-version")
        agent = headers.get(b"user-agent")
        envelope = Envelope(
            batch_id=f"eb_{now_ns:x}{os.urandom(5).hex()}",
            received_at=received.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            project=project.project_id,
            key_kind=key.kind,
            ip_policy=project.client_ip,
            origin=origin_host(origin.decode("latin-1")) if origin else None,
            sdk_version=sdk.decode("latin-1") if sdk else None,
            client_ip=apply_ip_policy(client[0], project.client_ip) if client else None,
            user_agent=agent.decode("latin-1") if agent else None,
        )
        self.admitted.add(day, project.project_id, count, 0)  # taken back if not landed
        return envelope

    async def _land(self, parsed: Parsed, envelope: Envelope, size: int) -> int:
        count = len(parsed.events)
        if count == 0:
            return 0
        day = envelope.received_at[:10]
        try:
            blob = batch_blob(parsed, envelope, size, self.redact)
        except Exception:
            self.admitted.add(day, envelope.project, -count, 0, requests=-1)
            raise
        try:
            if self.committer is None:
                raise LandingError("the sink is not started")
            await self.committer.append(Landed(day, envelope.project, count, size, blob))
        except LandingError as exc:
            self.admitted.add(day, envelope.project, -count, 0, requests=-1)
            log.error("batch of %d events refused with a 503: %s", count, exc)
            refusal = Refusal(503, "landing_unavailable", "the batch could not be stored; retry")
            refusal.retry_after = LANDING_RETRY_AFTER
            raise refusal from None
        return count


def _missing_key() -> Refusal:
    return Refusal(
        401, "missing_key", "send the project key in x-ts-key (or as projectKey in a single event)"
    )


def _error_body(code: str, message: str, **extra: Any) -> bytes:
    return orjson.dumps({"error": code, "message": message, **extra})


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    content_type: bytes = b"application/json",
) -> None:
    out = list(headers or [])
    if status != 204:
        out += [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": out})
    await send({"type": "http.response.body", "body": body})


def create_app(config: WorkspaceConfig, landing: Path, keys: list[ProjectKey]) -> SinkApp:
    """A sink app over an opened landing directory (see ``server.serve``)."""
    settings = config.sink
    writer = SegmentWriter(
        landing,
        settings.segment_max_bytes,
        settings.segment_max_age_seconds,
        settings.segment_idle_seconds,
    )
    for item in writer.open():
        log.warning(
            "recovered %s after an unclean stop: %d batches, %d events%s",
            item.segment,
            item.batches,
            item.events,
            f"; {item.torn_bytes} bytes set aside ({item.reason})" if item.torn_bytes else "",
        )
    return SinkApp(config, writer, keys)
