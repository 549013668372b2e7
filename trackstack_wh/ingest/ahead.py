"""Reading a file's chunks on a thread, one chunk ahead of the ingest."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from trackstack_wh.config.ingest import IngestSettings
from trackstack_wh.ingest import readers
from trackstack_wh.ingest.row_groups import row_group_chunks


class ChunksAhead:
    """The chunks of one file regrouped into row groups (`row_group_chunks`), prepared
    on a thread one whole chunk ahead of the caller.

    The thread starts at once, so the caller can do other work (hash the file) while
    the first chunk is read. The thread reads the next chunk only once the caller has
    taken the last one, so at most two chunks are in memory (the caller's and the one
    being read); reader errors reach the caller. Use as a context manager (or call
    `close`).
    """

    def __init__(self, path: Path, limits: IngestSettings | None = None) -> None:
        self._ready: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=1)
        self._taken = threading.Event()
        self._stop = threading.Event()
        self._worker = threading.Thread(
            target=self._produce, args=(path, limits), name=f"read {path.name}", daemon=True
        )
        self._done = False
        self._worker.start()

    def _produce(self, path: Path, limits: IngestSettings | None) -> None:
        try:
            chunks = readers.read_chunks(path, limits)
            for chunk in row_group_chunks(self._until_stopped(chunks)):
                if not self._hand_over(("chunk", chunk)):
                    return
            self._hand_over(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._hand_over(("error", exc))

    def _until_stopped(self, chunks: Iterator[pa.Table]) -> Iterator[pa.Table]:
        """``chunks`` until `close` is called (a closed reader stops after the row group it
        is reading)."""
        for chunk in chunks:
            if self._stop.is_set():
                return
            yield chunk

    def _hand_over(self, item: tuple[str, object]) -> bool:
        """Queue ``item`` and wait until the caller takes it; False once closed."""
        self._taken.clear()
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=0.1)
                break
            except queue.Full:
                continue
        while not self._stop.is_set():
            if self._taken.wait(timeout=0.1):
                return True
        return False

    def __iter__(self) -> Iterator[pa.Table]:
        return self

    def __next__(self) -> pa.Table:
        if self._done:
            raise StopIteration
        kind, item = self._ready.get()
        self._taken.set()
        if kind == "chunk":
            assert isinstance(item, pa.Table)
            return item
        self._done = True
        if kind == "error":
            assert isinstance(item, BaseException)
            raise item
        raise StopIteration

    def close(self) -> None:
        """Stop the thread (after the row group it is reading, if any)."""
        self._stop.set()
        self._worker.join()

    def __enter__(self) -> ChunksAhead:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
