"""Small helpers shared by tests."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import pty
import select
import struct
import subprocess
import termios
import time
from pathlib import Path


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


ROOT = Path(__file__).resolve().parent.parent


def run_in_terminal(
    argv: list[str], *, env: dict[str, str], cwd: Path, timeout: float = 120.0
) -> tuple[int, str, float]:
    """Run a command with stdout and stderr on a pseudo-terminal (as a person at a shell
    sees it): returns the exit code, everything it printed, and the wall time."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=env, cwd=cwd)  # fmt: skip
    os.close(slave)
    chunks: list[bytes] = []
    try:
        while True:
            if time.monotonic() - started > timeout:
                proc.kill()
                raise TimeoutError(f"{argv} ran longer than {timeout}s")
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # the terminal closed: the process has exited
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
    finally:
        os.close(master)
    code = proc.wait(timeout=30)
    return code, b"".join(chunks).decode(errors="replace"), time.monotonic() - started


def event_line(name: str, event_id: str, at: dt.datetime, **fields: object) -> str:
    """One flat-SDK event as an NDJSON line."""
    return json.dumps({"event": name, "eventId": event_id, "ts": at.isoformat(), **fields})


WEB = {
    "pageUrl": "https://app.example.com/p",
    "userAgent": "Mozilla/5.0",
    "clientIp": "203.0.113.9",
}
"""Browser context a website event carries."""


def samples_with_payloads(db: Path) -> dt.datetime:
    """Ingest the committed samples into ``db`` and build every destination's payloads at
    the samples' own clock (returned), so their ages pass the platforms' limits."""
    import trackstack_wh as tw

    with tw.connect(db, config=ROOT / "trackstack.toml") as wh:
        wh.ingest(ROOT / "data" / "samples")
        clock = wh.replay_clock()
        wh.build_payloads(as_of=clock)
    return clock
