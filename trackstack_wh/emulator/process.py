"""Running the emulator in a subprocess, with a small client for its admin API."""

from __future__ import annotations

import queue
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from types import TracebackType
from typing import IO, Any, Self

import httpx

LISTENING = "emulator listening on "
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 5.0


class EmulatorError(RuntimeError):
    """The emulator process failed to start or answer."""


def _pump(stream: IO[str], lines: queue.Queue[str | None]) -> None:
    """Forward the child's stdout lines (keeps its pipe drained)."""
    for line in stream:
        lines.put(line)
    lines.put(None)


class EmulatorProcess:
    """``python -m trackstack_wh.emulator`` in a subprocess on a free port.

    Use as a context manager; ``url_for(destination)`` is the base URL to configure for a
    destination, and the methods wrap the ``/_emulator`` admin API.
    """

    def __init__(
        self,
        clock: datetime | str | None = None,
        *,
        host: str = "127.0.0.1",
        startup_timeout: float = STARTUP_TIMEOUT,
    ) -> None:
        self.clock = clock.isoformat() if isinstance(clock, datetime) else clock
        self.host = host
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._client: httpx.Client | None = None
        self._base_url = ""

    @property
    def base_url(self) -> str:
        if not self._base_url:
            raise EmulatorError("the emulator is not running")
        return self._base_url

    def url_for(self, destination: str) -> str:
        """The base URL a destination's requests go to."""
        return f"{self.base_url}/{destination}"

    def start(self) -> Self:
        """Start the process and wait until it answers its health check."""
        command = [sys.executable, "-m", "trackstack_wh.emulator", "--host", self.host]
        command += ["--port", "0"]
        if self.clock is not None:
            command += ["--clock", self.clock]
        # Lives as long as the process; closed in stop().
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1
        )
        lines: queue.Queue[str | None] = queue.Queue()
        assert self._proc.stdout is not None
        self._reader = threading.Thread(
            target=_pump, args=(self._proc.stdout, lines), name="emulator-stdout", daemon=True
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
            if line.startswith(LISTENING):
                return line[len(LISTENING) :].strip()

    def _wait_healthy(self) -> None:
        assert self._client is not None
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                if self._client.get("/_emulator/health").status_code == 200:
                    return
            except httpx.TransportError:
                if self._proc is not None and self._proc.poll() is not None:
                    raise self._failure("exited before answering") from None
            if time.monotonic() > deadline:
                raise self._failure("did not answer its health check")
            time.sleep(0.05)

    def _failure(self, what: str) -> EmulatorError:
        stderr = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            stderr = self._stderr.read().decode("utf-8", "replace").strip()
        code = self._proc.poll() if self._proc is not None else None
        detail = f" (exit code {code})" if code is not None else ""
        return EmulatorError(f"emulator {what}{detail}; stderr:\n{stderr or '(empty)'}")

    def stop(self) -> None:
        """SIGTERM the process, kill it if still alive after 5 s, and release its pipes."""
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if self._reader is not None:
                self._reader.join(timeout=STOP_TIMEOUT)
            if proc.stdout is not None:
                proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        self._base_url = ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _admin(self, method: str, name: str, **kwargs: Any) -> Any:
        if self._client is None:
            raise EmulatorError("the emulator is not running")
        response = self._client.request(method, f"/_emulator/{name}", **kwargs)
        if response.status_code != 200:
            raise EmulatorError(f"{method} /_emulator/{name}: {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._admin("GET", "health")

    def stats(self) -> dict[str, dict[str, int]]:
        """Per destination: requests, accepted/rejected requests, received, unique, ..."""
        return self._admin("GET", "stats")

    def records(self, destination: str) -> dict[str, int]:
        """Dedup identity -> times received, for one destination."""
        return self._admin("GET", "records", params={"destination": destination})["identities"]

    def inject(self, destination: str, fault: str, times: int = 1, **options: Any) -> None:
        """Queue a fault for the destination's next ``times`` requests."""
        spec = {"destination": destination, "fault": fault, "times": times, **options}
        self._admin("POST", "faults", json=spec)

    def reset(self) -> None:
        """Forget records, stats and queued faults."""
        self._admin("POST", "reset")

    def set_clock(self, now: datetime | str) -> None:
        """Pin the emulator clock at ``now`` (it then advances in real time)."""
        value = now.isoformat() if isinstance(now, datetime) else now
        self._admin("POST", "clock", json={"now": value})
