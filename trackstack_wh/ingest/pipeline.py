"""Ingest one file into the warehouse: parse, validate, dedup, and account for every record.

Each record ends in exactly one of ``events``, ``quarantine`` or ``duplicates``, and the
file's ``ingest_batches`` row says how many went where. A file is identified by the
SHA-256 of its bytes, so ingesting the same content again is a no-op.

A file loads all or nothing, yet each chunk commits on its own: DuckDB holds a
transaction's inserted rows in memory until commit, so one transaction per file would
grow with the file (about 750 MiB per million events). The file is listed in
``ingest_loading`` while its chunks commit (`loading`); its ``ingest_batches`` row is
written in the last transaction. A load that fails is undone at once, and one killed
midway by the next writable connection.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb
import numpy as np
import orjson
import polars as pl
import pyarrow as pa

from trackstack_wh.config.ingest import ClientIpPolicy, IngestSettings
from trackstack_wh.db import transaction
from trackstack_wh.errors import UnreadableFileError
from trackstack_wh.ingest.ahead import ChunksAhead
from trackstack_wh.ingest.client_ip import IP_MACROS, ip_params, key_params
from trackstack_wh.ingest.detail import quarantine_detail
from trackstack_wh.ingest.identify import INSERT_SQL as INSERT_IDENTITIES_SQL
from trackstack_wh.ingest.identify import IS_IDENTIFY, STAGED_SQL, validate_identities
from trackstack_wh.ingest.loading import discard_load, finish_load, start_load
from trackstack_wh.ingest.normalize import (
    OBJECT_FROM_KEYS_MACRO,
    PARSE_ERRORS_SQL,
    checked_sql,
    insert_events_sql,
)
from trackstack_wh.ingest.readers import file_format
from trackstack_wh.ingest.report import FileReport
from trackstack_wh.sink.segments import is_segment
from trackstack_wh.validation import validate_events

EDGE_BATCHES_SQL = """
insert into sink_batches
select h.batchId, $batch_id, $segment, h.project, h.keyKind, h.receivedAt::timestamptz,
    h.origin, h.sdkVersion, h.clientIp, h.userAgent, h.events, h.bytes, h.context
from (
    select json_transform(header -> '$._edgeBatch', '{"batchId": "VARCHAR",
        "project": "VARCHAR", "keyKind": "VARCHAR", "receivedAt": "VARCHAR",
        "origin": "VARCHAR", "sdkVersion": "VARCHAR", "clientIp": "VARCHAR",
        "userAgent": "VARCHAR", "events": "BIGINT", "bytes": "BIGINT", "context": "JSON"}') as h
    from edge_headers
)
"""
PRIOR_EVENTS = """
select e.event_id, e.batch_id as prior_batch_id, e.line_no as prior_line_no
from events e semi join chunk_ids using (event_id)"""
PRIOR_IDENTIFIES = """
select identify_id as event_id, arg_min(batch_id, received_at) as prior_batch_id,
    arg_min(line_no, received_at) as prior_line_no
from identities where identify_id in (select event_id from chunk_ids)
group by identify_id"""
HASH_BLOCK = 8 << 20
SEQ_BASE_SQL = "select nextval('ingest_batch_seq') << 32"
"""The batch's ``event_seq`` base: events number in load order (payload builds cut
large warehouses into ranges of it; every table derived from events keeps it)."""


def file_sha256(path: Path) -> str:
    """SHA-256 of the file's bytes (the batch identity)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(HASH_BLOCK):
                digest.update(block)
    except OSError as exc:
        raise UnreadableFileError(
            str(path), f"cannot read the file: {exc.strerror or exc}"
        ) from exc
    return digest.hexdigest()


def ingest_file(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    received_at: dt.datetime | None = None,
    source: str | None = None,
    limits: IngestSettings | None = None,
) -> FileReport:
    """Load one file; returns its accounting. Raises UnreadableFileError if unreadable.

    ``source`` is the name the rows record for the file (default: ``path``); landing
    pickup gives the place the segment is moved to once loaded. ``limits``: record and
    document sizes (``[ingest]``) and the client IP policy (default: truncate)."""
    started = time.perf_counter()
    fmt, _ = file_format(path)
    source = source or str(path)
    with suppress(OSError):  # a file that cannot be opened is reported by the reader
        if path.stat().st_size == 0:
            return FileReport(source, None, "empty", seconds=time.perf_counter() - started)
    with ChunksAhead(path, limits) as chunks:  # the first chunk is read while the file is hashed
        sha = file_sha256(path)
        previous = conn.execute(
            "select batch_id from ingest_batches where content_sha256 = ?", [sha]
        ).fetchall()
        if previous:
            return FileReport(
                source, previous[0][0], "already_ingested", seconds=time.perf_counter() - started
            )
        batch = _Batch(conn, "b_" + sha[:24], source, received_at or dt.datetime.now(dt.UTC))
        batch.ip = (limits or IngestSettings()).client_ip
        batch.load(chunks, sha, "landing" if is_segment(path) else fmt.lstrip("."))
    return FileReport(
        source,
        batch.batch_id,
        "loaded",
        batch.rows_in,
        batch.rows_valid,
        batch.rows_quarantined,
        batch.rows_duplicate,
        batch.blank_lines,
        dict(batch.reasons),
        dict(batch.warnings),
        None,
        time.perf_counter() - started,
        rows_identify=batch.rows_identify,
    )


def reload_records(
    conn: duckdb.DuckDBPyConnection,
    chunk: pa.Table,
    *,
    batch_id: str,
    source: str,
    received_at: dt.datetime,
    ip: ClientIpPolicy | None = None,
) -> _Batch:
    """Load a chunk of an ingested batch's lines again, in the caller's transaction,
    under a fresh ``event_seq`` base (incremental steps see the events as new); returns
    its accounting, which the caller books (`trackstack_wh.ingest.replay`). ``ip``: the
    client IP policy (default: truncate)."""
    conn.execute(OBJECT_FROM_KEYS_MACRO)
    conn.execute(IP_MACROS)
    batch = _Batch(conn, batch_id, source, received_at)
    batch.ip = ip or ClientIpPolicy()
    batch.seq_base = conn.execute(SEQ_BASE_SQL).fetchall()[0][0]
    batch.load_chunk(chunk)
    return batch


class _Batch:
    """Running accounting of one file while its chunks load."""

    def __init__(
        self, conn: duckdb.DuckDBPyConnection, batch_id: str, source: str, received_at: dt.datetime
    ) -> None:
        self.conn = conn
        self.batch_id = batch_id
        self.source = source
        self.received_at = received_at
        self.rows_in = self.rows_valid = self.rows_quarantined = self.rows_duplicate = 0
        self.rows_identify = 0
        self.blank_lines = 0
        self.reasons: Counter[str] = Counter()
        self.warnings: Counter[str] = Counter()
        self.edge_headers: list[str] = []
        self.seq_base = 0
        self.ip = ClientIpPolicy()

    def load(self, chunks: Iterator[pa.Table], sha: str, fmt: str) -> None:
        """Load every chunk, each committed on its own, then record the batch; a load
        that fails is undone (see the module docstring)."""
        conn = self.conn
        conn.execute(OBJECT_FROM_KEYS_MACRO)
        conn.execute(IP_MACROS)
        start_load(conn, self.batch_id, self.source, sha)
        self.seq_base = conn.execute(SEQ_BASE_SQL).fetchall()[0][0]
        try:
            for chunk in chunks:
                with transaction(conn):
                    self.load_chunk(chunk)
                del chunk  # freed before the next one is taken (memory: two chunks at most)
            with transaction(conn):
                self.count_warnings()
                self.write_edge_batches()
                conn.execute(
                    "insert into ingest_batches (batch_id, source_uri, content_sha256, "
                    "file_format, received_at, ingested_at, rows_in, rows_valid, "
                    "rows_quarantined, rows_duplicate, blank_lines, rows_identify) "
                    "values (?, ?, ?, ?, ?, now(), ?, ?, ?, ?, ?, ?)",
                    [
                        self.batch_id,
                        self.source,
                        sha,
                        fmt,
                        self.received_at,
                        self.rows_in,
                        self.rows_valid,
                        self.rows_quarantined,
                        self.rows_duplicate,
                        self.blank_lines,
                        self.rows_identify,
                    ],
                )
                finish_load(conn, self.batch_id)
        except BaseException:
            with suppress(duckdb.Error):  # if even this fails, the next connection undoes it
                discard_load(conn, self.batch_id)
            raise

    def load_chunk(self, chunk: pa.Table) -> None:
        """Validate and dedup the chunk's records on a narrow parse, then append only the
        kept ones to ``events`` (nothing is ever deleted, so DuckDB never has to rewrite
        the rows it already wrote)."""
        conn = self.conn
        metadata = chunk.schema.metadata or {}
        self.blank_lines += int(metadata.get(b"blank_lines", 0))
        if b"edge_batches" in metadata:
            self.edge_headers += orjson.loads(metadata[b"edge_batches"])
        self.rows_in += chunk.num_rows
        if chunk.num_rows == 0:
            return
        chunk = self._load_identities(chunk)
        if chunk.num_rows == 0:
            return
        with _registered(conn, "chunk", chunk):
            checked = (
                conn.sql(checked_sql())
                .pl()
                .with_columns(received_at=pl.lit(self.received_at, pl.Datetime("us", "UTC")))
            )
            with _registered(conn, "parsed_lines", checked.select("line_no")):
                parse_errors = conn.sql(PARSE_ERRORS_SQL).pl()
            rejected = pl.concat(
                [
                    parse_errors.select("line_no", reasons=pl.concat_list("parse_error")),
                    validate_events(checked),
                ]
            )
            valid = checked.select("line_no", "event_id").join(rejected, on="line_no", how="anti")
            del checked  # the dedup needs only the IDs (memory: a wide chunk's columns)
            duplicates, keep = self._split_duplicates(valid)
            self._write_quarantine(rejected)
        kept = np.isin(chunk["line_no"].to_numpy(), keep["line_no"].to_numpy())
        with _registered(conn, "chunk", chunk.append_column("kept", pa.array(kept))):
            conn.execute(
                insert_events_sql(),
                {
                    "received_at": self.received_at,
                    "batch_id": self.batch_id,
                    "seq_base": self.seq_base,
                    **ip_params(self.ip),
                },
            )
        self._write_duplicates(duplicates)
        self.rows_valid += keep.height

    def _load_identities(self, chunk: pa.Table) -> pa.Table:
        """Load the chunk's identify records (``trackstack_wh.ingest.identify``) and
        return its other records."""
        conn = self.conn
        with _registered(conn, "chunk", chunk):
            lines = conn.sql(f"select line_no from chunk where {IS_IDENTIFY}").fetchnumpy()
        if len(lines["line_no"]) == 0:
            return chunk
        marked = np.isin(chunk["line_no"].to_numpy(), lines["line_no"])
        identify, others = chunk.filter(pa.array(marked)), chunk.filter(pa.array(~marked))
        with _registered(conn, "chunk", identify), _registered(conn, "identify_chunk", identify):
            staged = conn.sql(STAGED_SQL).pl()
            rejected = validate_identities(staged, self.received_at)
            valid = staged.join(rejected, on="line_no", how="anti")
            ids = valid.select("line_no", event_id="identify_id")
            duplicates, keep = self._split_duplicates(ids, PRIOR_IDENTIFIES)
            self._write_quarantine(rejected)
            kept = valid.join(keep.select("line_no"), on="line_no", how="semi")
            with _registered(conn, "kept_identities", kept):
                conn.execute(
                    INSERT_IDENTITIES_SQL,
                    {
                        "received_at": self.received_at,
                        "batch_id": self.batch_id,
                        **key_params(self.ip),
                    },
                )
        self._write_duplicates(duplicates)
        self.rows_valid += kept.height
        self.rows_identify += kept.height
        return others

    def count_warnings(self) -> None:
        """Tally the warnings of the batch's loaded rows (once, after its last chunk)."""
        rows = self.conn.execute(
            "select w, count(*) from (select unnest(warnings) as w from events "
            "where batch_id = ?) group by w",
            [self.batch_id],
        ).fetchall()
        self.warnings.update(dict(rows))

    def write_edge_batches(self) -> None:
        """Record the HTTP sink batches of a landing segment (from their header lines)."""
        if not self.edge_headers:
            return
        headers = pa.table({"header": pa.array(self.edge_headers, pa.string())})
        with _registered(self.conn, "edge_headers", headers):
            self.conn.execute(EDGE_BATCHES_SQL, {"batch_id": self.batch_id, "segment": self.source})

    def _split_duplicates(
        self, valid: pl.DataFrame, prior_sql: str = PRIOR_EVENTS
    ) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Duplicates of an earlier line of this batch or of a record already loaded
        (``prior_sql``: the loaded copies of the IDs in ``chunk_ids``)."""
        first_here = valid.with_columns(
            first_line_no=pl.col("line_no").min().over("event_id"),
            first_batch_id=pl.lit(self.batch_id),
        )
        ids = first_here.filter(pl.col("line_no") == pl.col("first_line_no")).select("event_id")
        with _registered(self.conn, "chunk_ids", ids):
            earlier = self.conn.sql(prior_sql).pl()
        marked = first_here.join(earlier, on="event_id", how="left").with_columns(
            first_batch_id=pl.coalesce("prior_batch_id", "first_batch_id"),
            first_line_no=pl.coalesce("prior_line_no", "first_line_no"),
        )
        is_dup = pl.col("prior_batch_id").is_not_null() | (
            pl.col("line_no") != pl.col("first_line_no")
        )
        return marked.filter(is_dup), marked.filter(~is_dup)

    def _write_quarantine(self, rejected: pl.DataFrame) -> None:
        if rejected.is_empty():
            return
        self.rows_quarantined += rejected.height
        self.reasons.update(rejected["reasons"].list.first().to_list())
        rows = rejected.with_columns(
            reason=pl.col("reasons").list.first(), detail=quarantine_detail(self.source, rejected)
        )
        with _registered(self.conn, "rejected_rows", rows):
            self.conn.execute(
                "insert into quarantine select ?, ?, r.line_no, r.raw, x.reason, x.reasons, "
                "x.detail, now() from rejected_rows x join chunk r using (line_no)",
                [self.batch_id, self.source],
            )

    def _write_duplicates(self, duplicates: pl.DataFrame) -> None:
        if duplicates.is_empty():
            return
        self.rows_duplicate += duplicates.height
        rows = duplicates.select("event_id", "line_no", "first_batch_id", "first_line_no")
        with _registered(self.conn, "duplicate_rows", rows):
            self.conn.execute(
                "insert into duplicates select event_id, ?, line_no, first_batch_id, "
                "first_line_no, now() from duplicate_rows",
                [self.batch_id],
            )


@contextmanager
def _registered(
    conn: duckdb.DuckDBPyConnection, name: str, data: pl.DataFrame | pa.Table
) -> Iterator[None]:
    """Expose a frame to SQL under ``name`` for the duration of the block."""
    conn.register(name, data)
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):  # in an aborted transaction; the caller rolls back
            conn.unregister(name)
        raise
    conn.unregister(name)
