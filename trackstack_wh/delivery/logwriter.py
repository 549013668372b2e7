"""The delivery log writer: ``delivery_log`` and ``delivery_requests`` rows buffered as
answers come in and written in small transactions, so a killed push loses at most the
last fraction of a second of log (those rows are sent again with the same dedup key).
Each log row carries its event's quality at send time (`quality_snapshot`)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import duckdb
import pyarrow as pa

from trackstack_wh.db import transaction
from trackstack_wh.delivery.outbox import Batch
from trackstack_wh.delivery.quality_snapshot import create_snapshot, drop_snapshot, snapshot_table

LOG_COLUMNS = (
    "attempt_id", "request_id", "run_id", "destination", "request_kind", "event_id", "mode",
    "target", "attempt", "sent_at", "latency_ms", "http_status", "outcome", "error_class",
    "error_code", "error_message", "trace_id", "retry_at",
)  # fmt: skip
TEXT_REQUEST_COLUMNS = frozenset({"error_code", "trace_id"})
"""What a platform can put in a request's log row (masked; any JSON value becomes text)."""
REQUEST_COLUMNS = (
    "request_id", "run_id", "destination", "request_kind", "mode", "target", "sent_at", "rows",
    "bytes", "latency_ms", "http_status", "error_class", "error_code", "platform_accepted",
    "trace_id",
)  # fmt: skip


class LogWriter:
    """Buffers delivery_log and delivery_requests rows; flushes in small transactions.

    Every text column passes through ``mask`` first (credentials a platform echoes). The
    push's quality snapshot (`quality_snapshot`) is created with the writer and dropped
    when it closes."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        *,
        run_id: str,
        destination: str,
        mode: str,
        target: str,
        mask: Callable[[str], str],
        flush_rows: int = 20000,
        flush_seconds: float = 0.5,
    ) -> None:
        self.conn = conn.cursor()
        self.run_id, self.destination, self.mode, self.target = run_id, destination, mode, target
        self.mask = mask
        self.flush_rows, self.flush_seconds = flush_rows, flush_seconds
        self.log: dict[str, list[object]] = {c: [] for c in GROUP_COLUMNS}
        self.requests: dict[str, list[object]] = {c: [] for c in REQUEST_COLUMNS}
        self.pending_rows = 0
        self.last_flush = time.monotonic()
        create_snapshot(self.conn, destination)
        self.insert_log = INSERT_LOG.format(snapshot=snapshot_table(destination))

    def rows(
        self,
        batch: Batch,
        outcome: str,
        *,
        request_id: str | None = None,
        http_status: int | None = None,
        latency_ms: float | None = None,
        error: tuple[str | None, str | None, str | None] = (None, None, None),
        trace_id: str | None = None,
        retry_at: dt.datetime | None = None,
        counts_as_attempt: bool = True,
    ) -> None:
        """Log one attempt for each row of ``batch`` (its ``attempts`` go up by one).

        A dry run is logged as attempt 0: it never shadows a real attempt's outcome.
        """
        if counts_as_attempt:
            batch.attempts = [a + 1 for a in batch.attempts]
            attempts = batch.attempts
        else:
            attempts = [0] * len(batch)
        error_class, code, message = error
        for column, value in (
            ("event_ids", batch.event_ids), ("attempts", attempts),
            ("request_kind", batch.kind), ("request_id", request_id), ("run_id", self.run_id),
            ("destination", self.destination), ("mode", self.mode), ("target", self.target),
            ("sent_at", dt.datetime.now(dt.UTC)), ("latency_ms", latency_ms),
            ("http_status", http_status), ("outcome", outcome), ("error_class", error_class),
            ("error_code", self._masked(code)), ("error_message", self._masked(message)),
            ("trace_id", self._masked(trace_id)), ("retry_at", retry_at),
        ):  # fmt: skip
            self.log[column].append(value)
        self.pending_rows += len(batch)
        self._maybe_flush()

    def _masked(self, text: object) -> str | None:
        return None if text is None else self.mask(str(text))

    def request(self, **values: object) -> None:
        """Log one HTTP request (``REQUEST_COLUMNS`` besides run, destination and mode)."""
        values |= {
            "run_id": self.run_id,
            "destination": self.destination,
            "mode": self.mode,
            "target": self.target,
        }
        for column in REQUEST_COLUMNS:
            value = values.get(column)
            text = column in TEXT_REQUEST_COLUMNS
            self.requests[column].append(self._masked(value) if text else value)

    def _maybe_flush(self) -> None:
        if (
            self.pending_rows >= self.flush_rows
            or time.monotonic() - self.last_flush >= self.flush_seconds
        ):
            self.flush()

    def flush(self) -> None:
        """Write what is buffered, in one transaction."""
        self.last_flush = time.monotonic()
        if not self.log["event_ids"] and not self.requests["request_id"]:
            return
        log = pa.table(self.log, schema=GROUP_SCHEMA)
        requests = pa.table(self.requests, schema=REQUEST_SCHEMA)
        self.conn.register("log_buffer", log)
        self.conn.register("request_buffer", requests)
        try:
            with transaction(self.conn):
                self.conn.execute("insert into delivery_requests by name from request_buffer")
                self.conn.execute(self.insert_log)
        finally:
            self.conn.unregister("log_buffer")
            self.conn.unregister("request_buffer")
        for buffer in (self.log, self.requests):
            for values in buffer.values():
                values.clear()
        self.pending_rows = 0

    def close(self) -> None:
        try:
            self.flush()
        finally:
            drop_snapshot(self.conn, self.destination)
            self.conn.close()


_TS = pa.timestamp("us", tz="UTC")
GROUP_COLUMNS = ("event_ids", "attempts") + tuple(
    c for c in LOG_COLUMNS if c not in ("attempt_id", "event_id", "attempt")
)
GROUP_SCHEMA = pa.schema(
    [("event_ids", pa.list_(pa.string())), ("attempts", pa.list_(pa.int32()))]
    + [(c, pa.string()) for c in ("request_id", "run_id", "destination", "request_kind", "mode",
                                  "target")]
    + [("sent_at", _TS), ("latency_ms", pa.float64()), ("http_status", pa.int32())]
    + [(c, pa.string()) for c in ("outcome", "error_class", "error_code", "error_message",
                                  "trace_id")]
    + [("retry_at", _TS)]
)  # fmt: skip
"""Buffered log: one row per logged group (same outcome, request and time)."""
INSERT_LOG = """
insert into delivery_log by name
select gen_random_uuid()::varchar as attempt_id, b.*, q.quality_score, q.quality_warnings
from (
    select unnest(event_ids) as event_id, unnest(attempts) as attempt,
        * exclude (event_ids, attempts)
    from log_buffer
) b
left join {snapshot} q on q.event_id = b.event_id and q.request_kind = b.request_kind
"""
"""The buffered rows, each with its event's quality from the push's snapshot."""
REQUEST_SCHEMA = pa.schema(
    [(c, pa.string()) for c in REQUEST_COLUMNS[:6]]
    + [("sent_at", _TS), ("rows", pa.int32()), ("bytes", pa.int64()),
       ("latency_ms", pa.float64()), ("http_status", pa.int32()), ("error_class", pa.string()),
       ("error_code", pa.string()), ("platform_accepted", pa.int64()), ("trace_id", pa.string())]
)  # fmt: skip
