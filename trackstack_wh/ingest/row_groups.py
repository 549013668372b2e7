"""Regroup reader chunks so that each record batch DuckDB scans fills one row group.

DuckDB's ordered parallel INSERT writes each scanned batch as its own row-group run.
Batches smaller than a row group (122,880 rows) leave partly filled row groups that a
later checkpoint merges by rewriting the whole table: about 4 s per 1M ingested events,
a sixth of the ingest. Chunks of whole row groups, one batch each, avoid that rewrite and
still give every DuckDB thread a batch to parse.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import orjson
import pyarrow as pa

ROW_GROUP_ROWS = 122_880
"""DuckDB's default row-group size."""

CHUNK_ROWS = 2 * ROW_GROUP_ROWS
"""Records per chunk: two row groups, one scan batch per thread on a 2-core machine,
with memory bounded (about 110-160 MiB of raw text per chunk)."""
CHUNK_BYTES = 192 << 20
"""...or fewer records when they are long: a chunk is handed on once it holds this much,"""
WIDE_CHUNK_BYTES = 32 << 20
WIDE_RECORD_BYTES = 4 << 10
"""...or this much (``WIDE_CHUNK_BYTES``) when its records average more than
``WIDE_RECORD_BYTES``: DuckDB scans 2,048 records at a time, so one scan vector of records
near the 1 MiB limit would hold a whole 192 MiB chunk, several times over while parsing."""


def _ready(rows: int, nbytes: int, max_rows: int) -> int:
    """How many of ``rows`` pending records (``nbytes`` bytes) to hand on now (0: wait)."""
    if rows == 0:
        return 0
    if rows >= max_rows:
        return max_rows
    cap = WIDE_CHUNK_BYTES if nbytes > rows * WIDE_RECORD_BYTES else CHUNK_BYTES
    return 0 if nbytes < cap else max(1, min(rows, cap * rows // nbytes))


def row_group_chunks(chunks: Iterable[pa.Table], rows: int | None = None) -> Iterator[pa.Table]:
    """The records of ``chunks`` in order, ``rows`` (default ``CHUNK_ROWS``) per chunk,
    the last may be shorter (as may one of long records, see ``CHUNK_BYTES``); each chunk's record
    batches are whole row groups (`row_group_batches`).

    Chunk metadata is carried over: ``blank_lines`` counts are summed and ``edge_batches``
    lists joined, each counted in exactly one output chunk (a final empty chunk carries
    what is left when the records have run out)."""
    rows = rows or CHUNK_ROWS
    pending: list[pa.Table] = []
    pending_rows = pending_bytes = 0
    blank_lines = 0
    edge_batches: list[str] = []
    schema: pa.Schema | None = None
    for chunk in chunks:
        metadata = chunk.schema.metadata or {}
        blank_lines += int(metadata.get(b"blank_lines", 0))
        if b"edge_batches" in metadata:
            edge_batches += orjson.loads(metadata[b"edge_batches"])
        plain = chunk.replace_schema_metadata(None)
        schema = plain.schema
        pending.append(plain)
        pending_rows += plain.num_rows
        pending_bytes += plain.nbytes
        while take := _ready(pending_rows, pending_bytes, rows):
            table = pa.concat_tables(pending)
            head, rest = table.slice(0, take), table.slice(take)
            del table, pending  # the blocks wholly inside ``head`` go once it is copied
            out = _with_metadata(row_group_batches(head), blank_lines, edge_batches)
            del head
            blank_lines, edge_batches = 0, []
            pending, pending_rows, pending_bytes = [rest], rest.num_rows, rest.nbytes
            yield out
            del out
    if schema is not None and (pending_rows or blank_lines or edge_batches):
        last = row_group_batches(pa.concat_tables(pending))
        yield _with_metadata(last, blank_lines, edge_batches)


def row_group_batches(table: pa.Table) -> pa.Table:
    """The same rows, as contiguous record batches of one row group each."""
    batches = [
        batch
        for start in range(0, table.num_rows, ROW_GROUP_ROWS)
        for batch in table.slice(start, ROW_GROUP_ROWS).combine_chunks().to_batches()
    ]
    return pa.Table.from_batches(batches, table.schema)


def _with_metadata(table: pa.Table, blank_lines: int, edge_batches: list[str]) -> pa.Table:
    metadata = {b"blank_lines": str(blank_lines).encode()}
    if edge_batches:
        metadata[b"edge_batches"] = orjson.dumps(edge_batches)
    return table.replace_schema_metadata(metadata)
