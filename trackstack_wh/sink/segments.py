"""The landing directory: segment files, their format, crash recovery and pickup.

    data/landing/
      seg-20261123T101500123456Z-000001.landing.ndjson.open   being written by the sink
      seg-20261123T101400017730Z-000000.landing.ndjson        closed: ready for ingest
      loaded/   segments ingest has loaded (moved here after their transaction commits)
      torn/     bytes set aside by crash recovery (never acknowledged), with a reason
      _usage.json   per-project event counts of today, as of the last closed segment
      .sink.lock    held by the running sink

A segment is NDJSON. Each accepted request is one *batch*: a header line
``{"_edgeBatch": {...}}`` (batch id, receive time, project, key kind, origin, client
metadata, event count) followed by one line per event, as sent (line breaks blanked, IPs
per the project's policy, the key redacted). Ingest stamps each event object with its
batch's ``edgeBatchId``, ``projectId`` and ``edgeReceivedAt`` from the header. An event
that would start like a header is written with a leading ``edgeBatchId`` key instead, so
a client can never forge one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

DEFAULT_LANDING = Path("data") / "landing"
SEGMENT_SUFFIX = ".landing.ndjson"
OPEN_SUFFIX = SEGMENT_SUFFIX + ".open"
HEADER_KEY = "_edgeBatch"
HEADER_PREFIX = b'{"' + HEADER_KEY.encode() + b'":'
LOADED_DIR = "loaded"
TORN_DIR = "torn"
USAGE_FILE = "_usage.json"
LOCK_FILE = ".sink.lock"
SEGMENT_STARTED = re.compile(r"seg-(\d{8}T\d{12})Z-")
"""A segment's name starts with the UTC time its first batch was written."""


def is_segment(path: Path) -> bool:
    """A closed landing segment (the only kind ingest reads)."""
    return path.name.endswith(SEGMENT_SUFFIX)


def closed_segments(root: Path) -> list[Path]:
    """Closed segments waiting in ``root``, oldest first."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_file() and is_segment(p))


def open_segments(root: Path) -> list[Path]:
    """Segments a sink was writing (left behind if it was killed), oldest first."""
    return sorted(p for p in root.iterdir() if p.is_file() and p.name.endswith(OPEN_SUFFIX))


def segment_started(path: Path) -> dt.datetime | None:
    """When a segment got its first batch: from its name, else its file's modification
    time (None if it has just been moved away, by ingest or the sink)."""
    found = SEGMENT_STARTED.match(path.name)
    if found is not None:
        return dt.datetime.strptime(found[1], "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
    try:
        return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class Backlog:
    """Events held in a landing directory before ingest: segments still open (being
    written, or left by a killed sink) and closed ones not yet loaded, with the age of
    the oldest of each (seconds since its first batch; None when there is none)."""

    open_segments: int = 0
    oldest_open_seconds: float | None = None
    closed_segments: int = 0
    closed_bytes: int = 0
    oldest_closed_seconds: float | None = None

    @property
    def oldest_seconds(self) -> float | None:
        """The longest any landed event has waited for ingest."""
        ages = [a for a in (self.oldest_open_seconds, self.oldest_closed_seconds) if a is not None]
        return max(ages) if ages else None


def backlog(root: Path, *, as_of: dt.datetime | None = None) -> Backlog:
    """What waits in the landing directory ``root`` as of ``as_of`` (default now); an
    absent directory holds nothing."""
    if not root.is_dir():
        return Backlog()
    now = as_of or dt.datetime.now(dt.UTC)
    waiting = open_segments(root)
    closed = closed_segments(root)

    def oldest(paths: list[Path]) -> float | None:
        started = [t for t in map(segment_started, paths) if t is not None]
        return max((now - t).total_seconds() for t in started) if started else None

    return Backlog(
        len(waiting), oldest(waiting), len(closed), sum(map(_size, closed)), oldest(closed)
    )


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # loaded meanwhile
        return 0


def loaded_path(segment: Path) -> Path:
    """Where a segment goes once ingest has committed it."""
    return segment.parent / LOADED_DIR / segment.name


def mark_loaded(segment: Path) -> Path:
    """Move a segment that ingest has committed into ``loaded/``."""
    target = loaded_path(segment)
    target.parent.mkdir(exist_ok=True)
    os.replace(segment, target)
    fsync_dir(segment.parent)
    return target


def fsync_dir(path: Path) -> None:
    """Make renames and new files in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Usage:
    """Per (UTC day, project): requests, events and bytes accepted."""

    counts: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def add(self, day: str, project: str, events: int, size: int, requests: int = 1) -> None:
        row = self.counts.setdefault((day, project), [0, 0, 0])
        row[0] += requests
        row[1] += events
        row[2] += size

    def events(self, day: str, project: str) -> int:
        row = self.counts.get((day, project))
        return row[1] if row else 0

    def merged(self, other: Usage) -> Usage:
        out = Usage({k: list(v) for k, v in self.counts.items()})
        for (day, project), (requests, events, size) in other.counts.items():
            out.add(day, project, events, size, requests)
        return out

    def to_json(self, through: str, keep_days: set[str]) -> bytes:
        rows = [
            {"day": d, "project": p, "requests": r, "events": e, "bytes": b}
            for (d, p), (r, e, b) in sorted(self.counts.items())
            if d in keep_days
        ]
        return orjson.dumps({"through": through, "usage": rows})

    @classmethod
    def from_json(cls, data: bytes) -> tuple[Usage, str]:
        doc = orjson.loads(data)
        usage = cls()
        for row in doc["usage"]:
            usage.add(row["day"], row["project"], row["events"], row["bytes"], row["requests"])
        return usage, doc["through"]


@dataclass
class Recovered:
    """What crash recovery did to one segment a killed sink left open."""

    segment: str
    batches: int
    events: int
    torn_bytes: int
    reason: str | None
    usage: Usage


def scan_segment(data: bytes) -> tuple[int, Usage, int, int, str | None]:
    """Find where the whole batches of a segment end.

    Returns (end offset of the last complete batch, usage of the complete batches,
    batches, events, why the rest is not whole). A batch is complete when its header
    parses and all the event lines it announces follow, each ending in a newline.
    """
    usage = Usage()
    good_end = pos = 0
    batches = events = 0
    pending: tuple[int, dict[str, Any]] | None = None  # (events still due, header)
    reason = None
    while pos < len(data):
        newline = data.find(b"\n", pos)
        if newline < 0:
            reason = "torn_line"
            break
        line = data[pos:newline]
        if line.startswith(HEADER_PREFIX):
            if pending is not None:
                reason = "incomplete_batch"
                break
            try:
                header = orjson.loads(line)[HEADER_KEY]
                due = int(header["events"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                reason = "unreadable_header"
                break
            pending = (due, header)
        elif pending is None:
            reason = "line_outside_batch"
            break
        else:
            pending = (pending[0] - 1, pending[1])
        pos = newline + 1
        if pending is not None and pending[0] == 0:
            header = pending[1]
            received = str(header["receivedAt"])
            usage.add(received[:10], str(header["project"]), int(header["events"]),
                      int(header["bytes"]))  # fmt: skip
            batches += 1
            events += int(header["events"])
            pending = None
            good_end = pos
    else:
        if pending is not None:
            reason = "incomplete_batch"
    return good_end, usage, batches, events, reason


def recover_segment(path: Path) -> Recovered:
    """Close a segment a killed sink left open: keep its whole batches, move any partial
    tail (never acknowledged: a batch is acknowledged only after it is fsync'd) to
    ``torn/`` with a note, and rename it to a closed segment (or delete it if empty)."""
    data = path.read_bytes()
    end, usage, batches, events, reason = scan_segment(data)
    root = path.parent
    closed_name = path.name[: -len(".open")]
    if end < len(data):
        torn = root / TORN_DIR
        torn.mkdir(exist_ok=True)
        (torn / f"{closed_name}.torn").write_bytes(data[end:])
        note = {"segment": closed_name, "offset": end, "bytes": len(data) - end, "reason": reason}
        (torn / f"{closed_name}.torn.json").write_text(json.dumps(note) + "\n")
        fsync_dir(torn)
        with open(path, "r+b") as fh:
            fh.truncate(end)
            os.fsync(fh.fileno())
    if end == 0:
        path.unlink()
    else:
        os.replace(path, root / closed_name)
    fsync_dir(root)
    return Recovered(closed_name, batches, events, len(data) - end, reason, usage)
