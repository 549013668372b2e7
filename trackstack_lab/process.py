"""Running one of the package's HTTP servers (the sink, the platform emulator) as a child
process: start it on a free port, read its address from its ``<name> listening on URL``
line, wait for its health check, stop it gracefully. The tests, the demo and the
benchmarks use it.
"""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import IO, Self

import httpx

from trackstack_wh.errors import TrackstackError
from trackstack_wh.serving import LISTENING

STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Forward the child's stdout lines (keeps its pipe drained)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


class ServerError(TrackstackError):
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
