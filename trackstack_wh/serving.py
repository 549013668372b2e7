"""What the package's HTTP servers (the sink, the platform emulator) share.

``serve_app`` runs an ASGI app under uvicorn (httptools, uvloop when installed) on a
pre-bound socket, hands its URL to ``on_listening`` (the entry points print
``<name> listening on URL``, see ``listening_line``) and returns quietly after a graceful
SIGTERM/SIGINT shutdown. ``trackstack_lab.process.ServerProcess`` runs such a server as a
child process, reads its address from that line and waits for its health check: the
tests, the demo and the benchmarks use it.
"""

from __future__ import annotations

import gc
import importlib.util
import logging
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any, Literal

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

BACKLOG = 2048
GC_THRESHOLD = 100_000
"""A 1,000-event request parses into ~15,000 containers that refcounting frees; the
default threshold (700) would run the cyclic GC many times per request."""
LISTENING = " listening on "
"""What a server process prints on stdout once it listens: ``<name> listening on URL``
(``ServerProcess`` reads its address from that line)."""

log = logging.getLogger(__name__)


def listening_line(name: str, url: str) -> str:
    """``<name> listening on <url>``: the line a server's entry point prints on stdout."""
    return f"{name}{LISTENING}{url}"


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve_app(
    name: str,
    app: ASGIApp,
    host: str,
    port: int,
    *,
    lifespan: Literal["on", "off", "auto"] = "off",
    graceful_seconds: int = 2,
    forwarded_allow_ips: Sequence[str] = (),
    limit_concurrency: int | None = None,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM: in-flight requests finish (up to
    ``graceful_seconds``), then the lifespan shutdown runs. ``on_listening`` gets the
    URL once the socket listens (before the first request is served). With
    ``limit_concurrency``, uvicorn answers a request 503 (and closes its connection)
    while that many connections are open or requests are running."""
    sock = bind(host, port)
    gc.set_threshold(GC_THRESHOLD)
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    config = uvicorn.Config(
        app,
        loop=loop,
        http="httptools",
        lifespan=lifespan,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=graceful_seconds,
        proxy_headers=bool(forwarded_allow_ips),
        forwarded_allow_ips=list(forwarded_allow_ips) or None,
        limit_concurrency=limit_concurrency,
        server_header=False,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    log.debug("%s listening on %s", name, url)
    if on_listening is not None:
        on_listening(url)
    with sock, _quiet_exit():
        server.run(sockets=[sock])


class _Stopped(Exception):
    """SIGTERM arrived (uvicorn re-raises it once its graceful shutdown is done)."""


def _raise_stopped(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


@contextmanager
def _quiet_exit() -> Iterator[None]:
    """Return normally, without a traceback, after a graceful SIGTERM/SIGINT shutdown."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_stopped) if main else None
    try:
        yield
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)


class ClientGone(Exception):
    """The client disconnected before its request body arrived."""


async def lifespan_noop(receive: Receive, send: Send) -> None:
    """Answer the ASGI lifespan protocol for an app with nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
