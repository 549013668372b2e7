"""Serving the emulator with uvicorn (httptools, uvloop when available)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from trackstack_lab.emulator.app import DroppedConnection, create_app
from trackstack_wh.serving import listening_line, serve_app

SHUTDOWN_GRACE = 2


class _HideDrops(logging.Filter):
    """Keep uvicorn from logging the tracebacks that ``drop`` faults cause on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DroppedConnection)


def announce(url: str) -> None:
    """Print ``emulator listening on URL`` on stdout (how ``EmulatorProcess`` finds it)."""
    print(listening_line("emulator", url), flush=True)


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    clock: datetime | None = None,
    *,
    on_listening: Callable[[str], None] | None = announce,
) -> None:
    """Serve the emulator until SIGINT/SIGTERM; ``on_listening`` gets its URL once it
    listens (by default ``announce`` prints ``emulator listening on URL``)."""
    logging.getLogger("uvicorn.error").addFilter(_HideDrops())
    serve_app(
        "emulator",
        create_app(clock),
        host,
        port,
        graceful_seconds=SHUTDOWN_GRACE,
        on_listening=on_listening,
    )
