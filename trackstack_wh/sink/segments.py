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

import json
import os
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
