"""Serving the emulator with uvicorn (httptools, uvloop when available)."""

from __future__ import annotations

import gc
import importlib.util
import logging
import signal
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from types import FrameType

import uvicorn

from trackstack_wh.emulator.app import DroppedConnection, create_app

BACKLOG = 2048
SHUTDOWN_GRACE = 2
GC_THRESHOLD = 100_000
"""A 1,000-event request parses into ~15,000 containers that refcounting frees; the
default threshold (700) would run the cyclic GC many times per request."""


class _HideDrops(logging.Filter):
    """Keep uvicorn from logging the tracebacks that ``drop`` faults cause on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


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


def serve(host: str = "127.0.0.1", port: int = 0, clock: datetime | None = None) -> None:
    """Serve the emulator until SIGINT/SIGTERM; prints ``emulator listening on URL`` first."""
    sock = bind(host, port)
    gc.set_threshold(GC_THRESHOLD)
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    config = uvicorn.Config(
        create_app(clock),
        loop=loop,
        http="httptools",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    server = uvicorn.Server(config)
    logging.getLogger("uvicorn.error").addFilter(_HideDrops())
    shown = f"[{host}]" if ":" in host else host
    print(f"emulator listening on http://{shown}:{sock.getsockname()[1]}", flush=True)
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
