"""What the package's HTTP servers (the sink, the platform emulator) share.

``serve_app`` runs an ASGI app under uvicorn (httptools, uvloop when installed) on a
pre-bound socket, prints ``<name> listening on URL`` and returns quietly after a graceful
SIGTERM/SIGINT shutdown. ``ServerProcess`` runs such a server as a child process, reads
its address from that line and waits for its health check: the tests, the demo and the
benchmarks use it.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from types import FrameType, TracebackType
from typing import IO, Any, Self

import httpx
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
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


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
    lifespan: str = "off",
    graceful_seconds: float = 2.0,
    forwarded_allow_ips: Sequence[str] = (),
) -> None:
    """Serve ``app`` until SIGINT/SIGTERM: in-flight requests finish (up to
    ``graceful_seconds``), then the lifespan shutdown runs."""
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
        server_header=False,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    print(f"{name}{LISTENING}http://{shown}:{sock.getsockname()[1]}", flush=True)
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


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Forward the child's stdout lines (keeps its pipe drained)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


class ServerError(RuntimeError):
    """A server process failed to start or answer."""


class ServerProcess:
    """``python -m <module> --host H --port 0 <args>`` in a child process.

    Use as a context manager. ``base_url`` is where it listens; ``stop()`` asks it to shut
    down gracefully (SIGTERM), ``kill()`` ends it at once (SIGKILL).
    """

    name = "server"
    module = ""
    health_path = "/healthz"

    def __init__(
        self,
        args: Sequence[str] = (),
        *,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.args = list(args)
        self.host = host
        self.env = env
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._base_url = ""

    @property
    def base_url(self) -> str:
        if not self._base_url:
            raise ServerError(f"the {self.name} is not running")
        return self._base_url

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise ServerError(f"the {self.name} is not running")
        return self._proc.pid

    @property
    def client(self) -> httpx.Client:
        """A client on ``base_url`` (for admin and health calls)."""
        if self._client is None:
            raise ServerError(f"the {self.name} is not running")
        return self._client

    def start(self) -> Self:
        """Start the process and wait until it answers its health check."""
        command = [sys.executable, "-m", self.module, "--host", self.host, "--port", "0"]
        env = None if self.env is None else {**os.environ, **self.env}
        # Lives as long as the process; closed in stop().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(
            command + self.args,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
            env=env,
        )
        lines: queue.Queue[str | None] = queue.Queue()
        assert self._proc.stdout is not None
        self._reader = threading.Thread(
            target=_pump, args=(self._proc.stdout, lines), name=f"{self.name}-stdout", daemon=True
        )
        self._reader.start()
        try:
            self._base_url = self._wait_for_url(lines)
            self._client = httpx.Client(base_url=self._base_url, timeout=10.0)
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_url(self, lines: queue.Queue[str | None]) -> str:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = lines.get(timeout=max(remaining, 0.01))
            except queue.Empty:
                raise self._failure("did not report its address in time") from None
            if line is None:
                raise self._failure("exited before listening")
            if LISTENING in line:
                return line.split(LISTENING, 1)[1].strip()

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if self.client.get(self.health_path).status_code == 200:
                    return
            except httpx.TransportError:
                if self._proc is not None and self._proc.poll() is not None:
                    raise self._failure("exited before answering") from None
            if time.monotonic() > deadline:
                raise self._failure("did not answer its health check")
            time.sleep(0.05)

    def stderr_text(self) -> str:
        """What the process wrote to stderr so far."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()

    def _failure(self, what: str) -> ServerError:
        code = self._proc.poll() if self._proc is not None else None
        detail = f" (exit code {code})" if code is not None else ""
        stderr = self.stderr_text() or "(empty)"
        return ServerError(f"{self.name} {what}{detail}; stderr:\n{stderr}")

    def stop(self, *, kill: bool = False) -> int | None:
        """SIGTERM the process (SIGKILL with ``kill`` or when still alive after 10 s),
        release its pipes and return its exit code."""
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            if proc.poll() is None:
                proc.kill() if kill else proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = proc.returncode
            if self._reader is not None:
                self._reader.join(timeout=STOP_TIMEOUT)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._base_url = ""
        return code

    def kill(self) -> int | None:
        """End the process with SIGKILL (no shutdown code runs)."""
        return self.stop(kill=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
