"""The ``Receiver``: a ``ThreadingHTTPServer`` on 127.0.0.1 serving every platform,
its lifecycle, records and fault configuration."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .ads import LinkedIn, Meta, Reddit, Snapchat, TikTok
from .analytics import PostHog
from .answering import _Answering
from .base import Platform
from .crm import HubSpot, Salesforce
from .faults import ALL, Always, Delay, Drop, EchoCredential, Every, Fault
from .google import Google
from .messages import JSON, Answer, Call, RecordedRequest

DESTINATIONS = (
    "meta",
    "google_ads",
    "linkedin",
    "tiktok",
    "snapchat",
    "reddit",
    "hubspot",
    "salesforce",
    "posthog",
)
PLATFORMS: dict[str, type[Platform]] = {
    "meta": Meta,
    "google_ads": Google,
    "linkedin": LinkedIn,
    "tiktok": TikTok,
    "snapchat": Snapchat,
    "reddit": Reddit,
    "hubspot": HubSpot,
    "salesforce": Salesforce,
    "posthog": PostHog,
}


class Receiver(_Answering):
    """Platform endpoints on 127.0.0.1 for delivery tests; use as a context manager.

    ``refused_versions``: per destination, API versions answered as the platform answers
    a sunset version. ``faults``: per destination (or ``ALL``), faults set from the start.
    ``salesforce_usage`` / ``salesforce_daily_max``: the org's API usage before the first
    request and its daily limit. ``aliases``: more destination names for a platform
    (``{"meta_eu": "meta"}``). ``keep_bodies=False`` keeps request bodies out of the
    records (long benchmarks).
    """

    def __init__(
        self,
        *,
        refused_versions: Mapping[str, Iterable[str]] | None = None,
        faults: Mapping[str, Sequence[Fault]] | None = None,
        salesforce_usage: int = 0,
        salesforce_daily_max: int = 100_000,
        aliases: Mapping[str, str] | None = None,
        keep_bodies: bool = True,
    ) -> None:
        self._lock = threading.Lock()
        self._closing = threading.Event()
        names = {d: d for d in DESTINATIONS} | dict(aliases or {})
        self._platforms = {alias: PLATFORMS[name]() for alias, name in names.items()}
        self._refused: dict[str, dict[str, Answer | None]] = {
            d: dict.fromkeys(v) for d, v in (refused_versions or {}).items()
        }
        self._faults: dict[str, list[Fault]] = {}
        for scope, items in (faults or {}).items():
            for fault in items:
                self.add_fault(fault, scope)
        self.salesforce_usage = salesforce_usage
        self.salesforce_daily_max = salesforce_daily_max
        self.keep_bodies = keep_bodies
        self.errors: list[str] = []
        """Receiver bugs met while answering (each answered 500)."""
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.reset()

    # lifecycle

    def start(self) -> Receiver:
        """Bind a free port on 127.0.0.1 and serve in a background thread."""
        if self._server is not None:
            return self
        self._closing.clear()
        server = _Server(("127.0.0.1", 0), _Handler)
        server.receiver = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut open connections and interrupt delays."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.cut_connections()
        self._closing.set()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the receiver is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def base_for(self, destination: str) -> str:
        """The ``base_url`` to configure for a destination."""
        return f"{self.base_url}/{destination}"

    # records

    def reset(self) -> None:
        """Forget requests, keys, request counters and Salesforce usage (faults stay)."""
        with self._lock:
            self._requests: dict[str, list[RecordedRequest]] = {}
            self._received: dict[str, list[tuple[str | None, Hashable]]] = {}
            self._known: dict[str, set] = {}
            self._seq: Counter[str] = Counter()
            self._sf_count = 0

    def requests(self, destination: str, kind: str | None = None) -> list[RecordedRequest]:
        """Every request to a destination (optionally of one kind), in arrival order."""
        with self._lock:
            found = list(self._requests.get(destination, []))
        return [r for r in found if kind is None or r.kind == kind]

    def received(self, destination: str, kind: str | None = None) -> list[Hashable]:
        """The dedup key of every element received, repeats included."""
        with self._lock:
            found = list(self._received.get(destination, []))
        return [key for k, key in found if kind is None or k == kind]

    def unique(self, destination: str, kind: str | None = None) -> set[Hashable]:
        return set(self.received(destination, kind))

    def counts(self, destination: str, kind: str | None = None) -> Counter[Hashable]:
        return Counter(self.received(destination, kind))

    def salesforce_api_usage(self) -> int:
        """N of ``api-usage=N/M``: the starting usage plus Salesforce requests answered."""
        with self._lock:
            return self.salesforce_usage + self._sf_count

    # configuration

    def refuse_versions(
        self, destination: str, *versions: str, answer: Answer | None = None
    ) -> None:
        """Answer these API versions as the platform answers a sunset version (or with
        ``answer``)."""
        with self._lock:
            refused = self._refused.setdefault(destination, {})
            refused.update(dict.fromkeys(versions, answer))

    def add_fault(self, fault: Fault, destination: str = ALL) -> Fault:
        with self._lock:
            self._faults.setdefault(destination, []).append(fault)
        return fault

    def clear_faults(self, destination: str | None = None) -> None:
        """Remove the faults of one scope (``ALL`` included), or of every scope."""
        with self._lock:
            if destination is None:
                self._faults.clear()
            else:
                self._faults.pop(destination, None)

    def every(
        self,
        n: int,
        status: int,
        body: bytes = b"",
        content_type: str = JSON,
        headers: Mapping[str, str] | None = None,
        *,
        destination: str = ALL,
    ) -> Fault:
        """The n-th, 2n-th, ... request to the destination gets this answer."""
        if n < 1:
            raise ValueError("n must be at least 1")
        answer = Answer(status, body, content_type, tuple((headers or {}).items()))
        return self.add_fault(Every(n, answer), destination)

    def always(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = JSON,
        headers: Mapping[str, str] | None = None,
        *,
        destination: str = ALL,
    ) -> Fault:
        """Every request gets this answer (an outage, a misconfigured proxy)."""
        answer = Answer(status, body, content_type, tuple((headers or {}).items()))
        return self.add_fault(Always(answer), destination)

    def echo_credential(
        self, status: int = 400, *, destination: str = ALL, as_text: bool = False
    ) -> Fault:
        """An error quoting the credentials the request carried, as Meta's "Invalid OAuth
        access token - Cannot parse access token: <token>" does: in the platform's error
        shape (the JSON-escaped form), with the URL-encoded and Base64 forms beside it;
        ``as_text`` answers ``text/plain`` with the raw form too."""
        return self.add_fault(EchoCredential(status, as_text), destination)

    def delay(self, seconds: float, times: int | None = None, *, destination: str = ALL) -> Fault:
        """The next ``times`` requests (None: every one) wait ``seconds`` before answering."""
        return self.add_fault(Delay(seconds, times), destination)

    def drop(self, times: int, *, destination: str = ALL, after_processing: bool = False) -> Fault:
        """Close the connection without answering the next ``times`` requests."""
        return self.add_fault(Drop(times, after_processing), destination)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    receiver: Receiver

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet: socket errors of connections a test cut (receiver bugs are answered 500
        and kept in ``Receiver.errors``)."""

    def cut_connections(self) -> None:
        """Shut every open connection (keep-alive readers end at once)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 60
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: tests read the records instead."""

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PATCH(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _read_body(self) -> bytes:
        if (self.headers.get("Transfer-Encoding") or "").lower() == "chunked":
            chunks = []
            for _ in range(1_000_000):
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        receiver = self.server.receiver
        body = self._read_body()
        url = urlsplit(self.path)
        destination, _, rest = url.path.lstrip("/").partition("/")
        call = Call(
            self.command,
            unquote(destination),
            "/" + rest,
            parse_qs(url.query, keep_blank_values=True),
            {k.lower(): v for k, v in self.headers.items()},
            body,
        )
        try:
            outcome = receiver.handle(call)
        except Exception as exc:  # a receiver bug: answer 500 and keep it for the test
            receiver.errors.append(f"{type(exc).__name__}: {exc}")
            self._write(Answer(500, f"receiver error: {exc}".encode(), "text/plain"))
            return
        if outcome.answer is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._write(outcome.answer)

    def _write(self, answer: Answer) -> None:
        self.send_response(answer.status)
        if answer.content_type:
            self.send_header("Content-Type", answer.content_type)
        if answer.status not in (204, 304):
            self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers:
            self.send_header(name, value)
        self.end_headers()
        if answer.status not in (204, 304) and self.command != "HEAD":
            self.wfile.write(answer.body)
