"""Durable, group-committed writes of accepted batches to landing segments.

``SegmentWriter`` owns the files (one thread calls it): it appends, fdatasyncs, rotates
segments by size, by age and once idle (no batch for ``idle_seconds``: a quiet sink
does not hold events back), and keeps today's usage. ``GroupCommitter`` is its asyncio
face: requests hand it their batch and wait; a single loop writes everything that queued
up while the previous fsync ran in one ``write`` + one ``fdatasync``, then releases all of
those requests at once. So the acknowledgement always follows the fsync, and the number
of fsyncs per second stays flat as concurrency grows. Between batches the same loop
sleeps only until the open segment is due to close (by age or idleness) and closes it
then, whether or not another request comes.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from trackstack_wh.errors import TrackstackError
from trackstack_wh.sink.segments import (
    LOADED_DIR,
    LOCK_FILE,
    OPEN_SUFFIX,
    TORN_DIR,
    USAGE_FILE,
    Recovered,
    Usage,
    closed_segments,
    fsync_dir,
    open_segments,
    recover_segment,
)

SEGMENT_MODE = 0o640
"""Segments hold personal data: readable by the owner and its group only."""


class LandingError(TrackstackError):
    """The landing directory cannot be used (locked by another sink, not writable)."""


@dataclass
class Landed:
    """One accepted batch on its way to disk."""

    day: str
    project: str
    events: int
    body_bytes: int
    """Size of the request body (what usage counts)."""
    blob: bytes


class SegmentWriter:
    """Appends batches to the open segment of one landing directory."""

    def __init__(
        self,
        root: Path,
        max_bytes: int,
        max_age_seconds: float,
        idle_seconds: float = 5.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.root = root
        self.clock = clock
        """Seconds on a monotonic clock: when segments were opened and last written."""
        self.max_bytes = max_bytes
        self.max_age = max_age_seconds
        self.idle = idle_seconds
        self.usage = Usage()
        """Usage of everything written (closed segments and the open one)."""
        self.bytes_written = 0
        self.segments_closed = 0
        self.commits = 0
        self.commit_seconds = 0.0
        self._lock_fd: int | None = None
        self._fd: int | None = None
        self._name = ""
        self._size = 0
        self._opened_at = 0.0
        self._written_at = 0.0
        self._seq = 0
        self._through = ""

    def open(self) -> list[Recovered]:
        """Lock the directory, load today's usage and recover segments a killed sink
        left open; returns what recovery did."""
        for sub in (self.root, self.root / LOADED_DIR, self.root / TORN_DIR):
            sub.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LandingError(
                f"{self.root} is in use by another sink; give each sink its own --landing"
            ) from None
        self._lock_fd = fd
        usage_path = self.root / USAGE_FILE
        if usage_path.exists():
            self.usage, self._through = Usage.from_json(usage_path.read_bytes())
        recovered = [recover_segment(path) for path in open_segments(self.root)]
        for item in recovered:
            if item.segment > self._through:
                self.usage = self.usage.merged(item.usage)
        return recovered

    @property
    def open_segment(self) -> str:
        return self._name

    @property
    def open_bytes(self) -> int:
        return self._size

    def write(self, batches: list[Landed]) -> None:
        """Append the batches and make them durable (the caller acknowledges after)."""
        started = time.perf_counter()
        if self._fd is None:
            self._new_segment()
        assert self._fd is not None
        data = memoryview(b"".join(b.blob for b in batches))
        try:
            while data:
                written = os.write(self._fd, data)
                data = data[written:]
            os.fdatasync(self._fd)
        except OSError:
            self._roll_back()
            raise
        size = sum(len(b.blob) for b in batches)
        self._written_at = self.clock()
        for b in batches:
            self.usage.add(b.day, b.project, b.events, b.body_bytes)
        self._size += size
        self.bytes_written += size
        self.commits += 1
        self.commit_seconds += time.perf_counter() - started
        if self._size >= self.max_bytes:
            self.close_segment()

    def rotate_if_due(self) -> None:
        """Close the open segment once it reaches the age limit or has been idle for
        ``idle_seconds``."""
        if self.seconds_until_rotation() == 0.0:
            self.close_segment()

    def seconds_until_rotation(self) -> float | None:
        """How long until the open segment is due to close (None: no open segment)."""
        if self._fd is None:
            return None
        now = self.clock()
        due = min(self._opened_at + self.max_age, self._written_at + self.idle)
        return max(0.0, due - now)

    def open_age(self) -> float:
        """Seconds since the open segment got its first batch (0 when none is open)."""
        return 0.0 if self._fd is None else self.clock() - self._opened_at

    def close_segment(self) -> None:
        """Close the open segment: usage snapshot first, then the rename that makes it
        visible to ingest (a crash in between is repaired by recovery)."""
        if self._fd is None:
            return
        os.close(self._fd)
        self._fd = None
        closed = self._name[: -len(".open")]
        self._write_usage(closed)
        os.replace(self.root / self._name, self.root / closed)
        self.segments_closed += 1
        self._name, self._size = "", 0
        fsync_dir(self.root)

    def close(self) -> None:
        """Close the open segment and release the directory."""
        self.close_segment()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def pending(self) -> tuple[int, int, float]:
        """Closed segments not yet picked up: (count, bytes, age of the oldest in s)."""
        segments = closed_segments(self.root)
        if not segments:
            return 0, 0, 0.0
        stats = [p.stat() for p in segments]
        oldest = min(s.st_mtime for s in stats)
        return len(stats), sum(s.st_size for s in stats), max(0.0, time.time() - oldest)

    def _roll_back(self) -> None:
        """After a failed write, cut the open segment back to its last whole batch; if
        even that fails, leave it for crash recovery and start a new one."""
        assert self._fd is not None
        try:
            os.ftruncate(self._fd, self._size)
            os.fdatasync(self._fd)
        except OSError:
            os.close(self._fd)
            self._fd, self._name, self._size = None, "", 0

    def _new_segment(self) -> None:
        now = dt.datetime.now(dt.UTC)
        self._seq += 1
        name = f"seg-{now:%Y%m%dT%H%M%S%f}Z-{os.getpid()}-{self._seq:06d}{OPEN_SUFFIX}"
        self._fd = os.open(
            self.root / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, SEGMENT_MODE
        )
        fsync_dir(self.root)
        self._name, self._size = name, 0
        self._opened_at = self._written_at = self.clock()

    def _write_usage(self, through: str) -> None:
        today = dt.datetime.now(dt.UTC).date()
        keep = {str(today), str(today - dt.timedelta(days=1))}
        tmp = self.root / (USAGE_FILE + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(self.usage.to_json(through, keep))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / USAGE_FILE)
        self._through = through


class GroupCommitter:
    """Queues batches from request handlers and commits them in groups."""

    def __init__(self, writer: SegmentWriter) -> None:
        self.writer = writer
        self._queue: asyncio.Queue[tuple[Landed, asyncio.Future[None]] | None] = asyncio.Queue()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="landing")
        self._task: asyncio.Task[None] | None = None
        self.failed: BaseException | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def append(self, batch: Landed) -> None:
        """Return once the batch is on disk (raises if it could not be written)."""
        if self._task is None or self._task.done():
            raise LandingError("the landing writer is not running")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((batch, future))
        await future

    async def stop(self) -> None:
        """Write what is queued, close the open segment and release the directory."""
        if self._task is not None:
            self._queue.put_nowait(None)
            await self._task
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.writer.close)
        self._executor.shutdown()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = False
        while not stopping:
            wait = self.writer.seconds_until_rotation()
            try:
                first = await asyncio.wait_for(self._queue.get(), wait)
            except TimeoutError:
                await self._rotate(loop)
                continue
            group = []
            item = first
            while True:
                if item is None:
                    stopping = True
                else:
                    group.append(item)
                if self._queue.empty():
                    break
                item = self._queue.get_nowait()
            if group:
                await self._commit(loop, group)
            await self._rotate(loop)

    async def _rotate(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            await loop.run_in_executor(self._executor, self.writer.rotate_if_due)
        except OSError as exc:
            self.failed = exc

    async def _commit(
        self,
        loop: asyncio.AbstractEventLoop,
        group: list[tuple[Landed, asyncio.Future[None]]],
    ) -> None:
        try:
            await loop.run_in_executor(self._executor, self.writer.write, [b for b, _ in group])
        except OSError as exc:
            self.failed = exc
            for _, future in group:
                if not future.done():
                    future.set_exception(LandingError(f"landing write failed: {exc.strerror}"))
            return
        self.failed = None
        for _, future in group:
            if not future.done():
                future.set_result(None)
