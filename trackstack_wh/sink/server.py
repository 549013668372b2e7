"""``trackstack-wh serve``: the sink under uvicorn, with a graceful shutdown.

The landing directory is locked and recovered before the port opens, so a second sink on
the same directory, a missing key variable or an unwritable directory fails at once with
a clear message. On SIGTERM/SIGINT the server stops accepting, lets in-flight requests
finish, writes what is queued and closes the open segment (ready for ingest).

``sink.max_connections`` is uvicorn's ``limit_concurrency``: while that many connections
are open (idle keep-alive ones included), a new request is answered 503 (uvicorn's plain
text "Service Unavailable", with ``Connection: close``) before the app sees it. Slow
bodies are the app's: see ``intake.read_body`` and ``sink.body_timeout_seconds``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from trackstack_wh.config import WorkspaceConfig, load_keys
from trackstack_wh.serving import serve_app
from trackstack_wh.sink.app import create_app

DEFAULT_PORT = 8787
GRACEFUL_SECONDS = 10


def serve(
    config: WorkspaceConfig,
    landing: Path,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    on_listening: Callable[[str], None] | None = None,
) -> None:
    """Serve POST /events until SIGINT/SIGTERM; ``on_listening`` gets the URL once the
    port is open (the command line prints ``sink listening on URL``)."""
    keys = load_keys(config.projects)
    app = create_app(config, landing, keys)
    serve_app(
        "sink",
        app,
        host,
        port,
        lifespan="on",
        graceful_seconds=GRACEFUL_SECONDS,
        forwarded_allow_ips=config.sink.forwarded_allow_ips,
        limit_concurrency=config.sink.max_connections,
        on_listening=on_listening,
    )
