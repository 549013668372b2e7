"""Readers: every supported file becomes chunks of raw JSON records with their line numbers.

A chunk (`trackstack_wh.ingest.chunk`) is all the rest of the pipeline sees. NDJSON is
split in bounded blocks without per-line Python parsing; records DuckDB's lenient JSON
parser would accept (trailing commas, NaN, inf) are re-checked strictly, and lines that
are not UTF-8 are kept (with their bytes escaped) and marked. A line longer than
``[ingest] max_record_bytes`` is never held whole: its first bytes and length are kept
and marked ``record_too_large``. Other formats: `trackstack_wh.ingest.tabular`.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from trackstack_wh.config.ingest import IngestSettings
from trackstack_wh.errors import UnreadableFileError
from trackstack_wh.ingest import row_groups
from trackstack_wh.ingest.chunk import CHUNK_SCHEMA, PREVIEW_BYTES, cap_records, too_large_chunk
from trackstack_wh.ingest.tabular import csv_chunks, json_document_chunks, parquet_chunks
from trackstack_wh.sink.segments import HEADER_KEY, HEADER_PREFIX, is_segment

BLOCK_BYTES = 16 << 20
"""NDJSON is read in blocks of this size into the reader's buffer; it is also the size
of the pieces in which line breaks are cut out of a chunk's bytes."""

PENDING_BYTES = 128 << 20
"""Complete lines are handed on once this many bytes wait (rows of very long lines)."""
SUPPORTED = (".ndjson", ".jsonl", ".json", ".csv", ".parquet")
LENIENT_JSON_PATTERN = r",\s*[\]}]|[:,\[]\s*-?(?i:nan|inf)"
"""Text DuckDB's parser accepts but strict JSON does not (a trailing comma; NaN, Inf or
Infinity in any letter case as a value): lines with it are re-checked strictly."""


def file_format(path: Path) -> tuple[str, bool]:
    """(format suffix, gzipped) for a path, or UnreadableFileError for anything else."""
    suffixes = [s.lower() for s in path.suffixes]
    gzipped = bool(suffixes) and suffixes[-1] == ".gz"
    if gzipped:
        suffixes = suffixes[:-1]
    fmt = suffixes[-1] if suffixes else ""
    if fmt not in SUPPORTED or (gzipped and fmt == ".parquet"):
        raise UnreadableFileError(
            str(path),
            f"unsupported file type {''.join(path.suffixes) or '(none)'}; "
            "use .ndjson, .jsonl, .json (each optionally .gz), .csv or .parquet",
        )
    return fmt, gzipped


def is_event_file(path: Path) -> bool:
    """True for a file type the readers support."""
    try:
        file_format(path)
    except UnreadableFileError:
        return False
    return True


def read_chunks(path: Path, limits: IngestSettings | None = None) -> Iterator[pa.Table]:
    """Yield the records of one file as chunks; raise UnreadableFileError if it can't be
    read. No record longer than ``limits.max_record_bytes`` is handed on whole."""
    limits = limits or IngestSettings()
    for chunk in _format_chunks(path, limits):
        yield cap_records(chunk, limits.max_record_bytes)


def _format_chunks(path: Path, limits: IngestSettings) -> Iterator[pa.Table]:
    fmt, gzipped = file_format(path)
    try:
        if is_segment(path):
            with _open(path, gzipped) as stream:
                yield from _landing_chunks(stream, limits.max_record_bytes)
        elif fmt in (".ndjson", ".jsonl"):
            with _open(path, gzipped) as stream:
                yield from _ndjson_chunks(stream, limits.max_record_bytes)
        elif fmt == ".json":
            with _open(path, gzipped) as stream:
                yield from json_document_chunks(path, stream, limits)
        elif fmt == ".csv":
            yield from csv_chunks(path)
        else:
            yield from parquet_chunks(path)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(str(path), f"cannot read the file: {exc}") from exc
    except (pa.ArrowInvalid, pl.exceptions.PolarsError) as exc:
        raise UnreadableFileError(str(path), f"not a valid {fmt[1:]} file: {exc}") from exc


def _open(path: Path, gzipped: bool) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _ndjson_chunks(
    stream: io.BufferedIOBase, max_record: int = IngestSettings.max_record_bytes
) -> Iterator[pa.Table]:
    """The file's lines in chunks of one row group each (`row_groups.ROW_GROUP_ROWS`
    lines; the last may be shorter, as is one cut at ``PENDING_BYTES``), so regrouping
    them costs no copy. A line found longer than ``max_record`` before its end is
    skipped to its end (`_skip_line`) and handed on as its first bytes and length.

    Blocks are read into one buffer that is reused from chunk to chunk, as is the mask
    that finds the line breaks: a line's bytes are copied once, into its chunk, and no
    fresh memory is touched per block (first-touch page faults were a tenth of the
    reader's time)."""
    rows = row_groups.ROW_GROUP_ROWS
    buf = np.empty(2 * BLOCK_BYTES, dtype=np.uint8)
    mask = np.empty(BLOCK_BYTES, dtype=bool)
    size = 0  # bytes in buf not yet handed out
    newlines: list[np.ndarray] = []  # their line break positions, per block read
    count = 0
    next_line = 1
    while True:
        if buf.size - size < BLOCK_BYTES:
            buf = np.concatenate((buf[:size], np.empty(buf.size, dtype=np.uint8)))
        n = stream.readinto(buf.data[size : size + BLOCK_BYTES])
        if not n:
            break
        if next_line == 1 and size == 0 and n >= 3 and bytes(buf[:3]) == b"\xef\xbb\xbf":
            buf.data[: n - 3] = buf.data[3:n]
            n -= 3
        np.equal(buf[size : size + n], 10, out=mask[:n])
        newlines.append(np.flatnonzero(mask[:n]) + size)
        count += newlines[-1].size
        size += n
        while count >= rows or (count and size >= PENDING_BYTES):
            take = min(rows, count)
            positions = np.concatenate(newlines)
            cut = int(positions[take - 1])
            chunk, next_line = _lines_chunk(buf[:cut], positions[: take - 1], next_line, mask)
            yield chunk
            rest = size - cut - 1
            buf.data[:rest] = buf.data[cut + 1 : size]
            newlines, count, size = [positions[take:] - (cut + 1)], positions.size - take, rest
        line_start = int(np.concatenate(newlines)[-1]) + 1 if count else 0
        if size - line_start <= max_record:
            continue
        if count:  # the complete lines before the long one go first
            positions = np.concatenate(newlines)
            chunk, next_line = _lines_chunk(buf[: line_start - 1], positions[:-1], next_line, mask)
            yield chunk
            buf.data[: size - line_start] = buf.data[line_start:size]
            size -= line_start
        head = bytes(buf[:PREVIEW_BYTES])
        skipped, rest = _skip_line(stream, buf)
        yield too_large_chunk(head, size + skipped, next_line)
        size = rest
        next_line += 1
        newlines = [np.flatnonzero(buf[:size] == 10)]
        count = newlines[0].size
    positions = np.concatenate(newlines) if newlines else np.empty(0, dtype=np.int64)
    ends_with_break = bool(positions.size) and positions[-1] == size - 1
    if ends_with_break:  # the last line's break ends the file, not another line
        size, positions = size - 1, positions[:-1]
    if size or ends_with_break:  # an empty last line is still a (blank) line
        yield _lines_chunk(buf[:size], positions, next_line, mask)[0]


def _skip_line(stream: io.BufferedIOBase, buf: np.ndarray) -> tuple[int, int]:
    """Read past the end of the current line, a block at a time into ``buf``: returns
    (bytes skipped before its line break, bytes after it now at the start of ``buf``)."""
    skipped = 0
    while n := stream.readinto(buf.data[:BLOCK_BYTES]):
        breaks = np.flatnonzero(buf[:n] == 10)
        if breaks.size == 0:
            skipped += n
            continue
        end = int(breaks[0])
        buf.data[: n - end - 1] = buf.data[end + 1 : n]
        return skipped + end, n - end - 1
    return skipped, 0


def _landing_chunks(stream: io.BufferedIOBase, max_record: int) -> Iterator[pa.Table]:
    """A landing segment: its event lines as records, each event object stamped with its
    batch's id, project and receive time (from the header line before it). The header
    lines themselves go into the chunk's metadata (``edge_batches``, a JSON array)."""
    stamps: str | None = None  # of the batch the next lines belong to (across chunks)
    for chunk in _ndjson_chunks(stream, max_record):
        raw = chunk["raw"]
        is_header = pc.starts_with(raw, HEADER_PREFIX.decode()).to_numpy(zero_copy_only=False)
        header_rows = np.flatnonzero(is_header)
        headers = raw.take(pa.array(header_rows)).to_pylist()
        prefixes = [stamps, *map(_stamp_prefix, headers)]
        event_rows = np.flatnonzero(~is_header)
        owner = np.searchsorted(header_rows, event_rows, side="right")
        events = chunk.take(pa.array(event_rows))
        prefix = pa.array(prefixes, pa.string()).take(pa.array(owner))
        events = events.set_column(1, "raw", _stamped(events["raw"], prefix))
        stamps = prefixes[-1]
        metadata = {**(chunk.schema.metadata or {}), b"edge_batches": orjson.dumps(headers)}
        yield events.replace_schema_metadata(metadata)


def _stamp_prefix(header_line: str) -> str:
    """``{"edgeBatchId":..,"projectId":..,"edgeReceivedAt":..`` for a batch header."""
    header = orjson.loads(header_line)[HEADER_KEY]
    stamps = {
        "edgeBatchId": header["batchId"],
        "projectId": header["project"],
        "edgeReceivedAt": header["receivedAt"],
    }
    return orjson.dumps(stamps)[:-1].decode()


def _stamped(raw: pa.ChunkedArray, prefix: pa.Array) -> pa.ChunkedArray:
    """Each JSON object in ``raw`` with ``prefix``'s keys first (the first of two equal
    keys is the one JSON readers keep); anything else unchanged."""
    rest = pc.utf8_slice_codeunits(raw, 1)
    separator = pc.if_else(pc.starts_with(pc.utf8_ltrim_whitespace(rest), "}"), "", ",")
    joined = pc.binary_join_element_wise(prefix, separator, rest, "")
    use = pc.and_kleene(pc.starts_with(raw, "{"), pc.is_valid(prefix))
    return pc.if_else(use, joined, raw)


def _lines_chunk(
    buf: np.ndarray, newlines: np.ndarray, first_line: int, scratch: np.ndarray | None = None
) -> tuple[pa.Table, int]:
    """Split a block of whole lines (bytes, newline positions) into a chunk.

    Blank lines are skipped and counted. The split is vectorized: the newline positions
    become the offsets of an Arrow string array over a copy of the block's bytes, with
    the line breaks and a trailing CR removed. ``scratch`` (a boolean array) saves
    allocating the mask of bytes to keep; the copy is made in pieces of its size.
    """
    starts = np.concatenate(([0], newlines + 1))
    ends = np.append(newlines, buf.size)
    has_cr = ends > starts
    has_cr[has_cr] = buf[ends[has_cr] - 1] == 13
    ends = ends - has_cr
    dropped = np.sort(np.concatenate((newlines, ends[has_cr])))
    lengths = ends - starts
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    n = lengths.size
    data = _without(buf, dropped, scratch)
    binary = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    line_no = pa.array(np.arange(first_line, first_line + n, dtype=np.int64))
    pre_reason: pa.Array
    try:
        raw = binary.cast(pa.large_string()).cast(pa.string())
        pre_reason = pa.nulls(n, pa.string())
    except pa.ArrowInvalid:
        raw, pre_reason = _decode_each(binary.to_pylist())
    table = pa.table([line_no, raw, pre_reason], schema=CHUNK_SCHEMA)
    blank = _blank_lines(buf, starts, ends)
    kept = table.filter(pa.array(~blank)) if blank.any() else table
    kept = kept.replace_schema_metadata({"blank_lines": str(int(blank.sum()))})
    return _mark_lenient_json(kept), first_line + n


def _without(buf: np.ndarray, dropped: np.ndarray, scratch: np.ndarray | None) -> np.ndarray:
    """A copy of ``buf`` without the bytes at the sorted positions ``dropped``, made in
    pieces the size of ``scratch`` (the mask of bytes to keep)."""
    mask = np.empty(max(buf.size, 1), dtype=bool) if scratch is None else scratch
    out = np.empty(buf.size - dropped.size, dtype=np.uint8)
    written = 0
    for start in range(0, buf.size, mask.size):
        end = min(start + mask.size, buf.size)
        here = dropped[np.searchsorted(dropped, start) : np.searchsorted(dropped, end)]
        keep = mask[: end - start]
        keep.fill(True)
        keep[here - start] = False
        kept = keep.size - here.size
        out[written : written + kept] = buf[start:end][keep]
        written += kept
    return out


_JSON_WHITESPACE = np.array([32, 9, 13], dtype=np.uint8)


def _blank_lines(buf: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per line, True when it is empty or holds only JSON whitespace (space, tab, CR).

    Only lines that begin with whitespace need a look at all their bytes.
    """
    blank = ends == starts
    suspect = np.flatnonzero(~blank)
    suspect = suspect[np.isin(buf[starts[suspect]], _JSON_WHITESPACE)]
    for i in suspect.tolist():
        blank[i] = bool(np.isin(buf[starts[i] : ends[i]], _JSON_WHITESPACE).all())
    result: np.ndarray = blank
    return result


def _decode_each(parts: list[bytes]) -> tuple[pa.Array, pa.Array]:
    """Slow path for a block with invalid UTF-8: find the bad lines and escape them."""
    raw: list[str] = []
    reasons: list[str | None] = []
    for part in parts:
        try:
            raw.append(part.decode("utf-8"))
            reasons.append(None)
        except UnicodeDecodeError:
            raw.append(part.decode("utf-8", errors="backslashreplace"))
            reasons.append("invalid_utf8")
    return pa.array(raw, pa.string()), pa.array(reasons, pa.string())


def _mark_lenient_json(table: pa.Table) -> pa.Table:
    """Mark lines that only a lenient parser accepts as invalid_json: lines matching
    `LENIENT_JSON_PATTERN` are re-checked with a strict parser (orjson).

    (Measured against finding the same text over the whole block with numpy and
    ``bytes.find``: RE2 per line was faster on this machine.)"""
    suspect = pc.match_substring_regex(table["raw"], LENIENT_JSON_PATTERN)
    candidates = np.flatnonzero(suspect.to_numpy(zero_copy_only=False))
    if candidates.size == 0:
        return table
    reasons = table["pre_reason"].to_pylist()
    texts = table["raw"].take(pa.array(candidates)).to_pylist()
    for i, text in zip(candidates.tolist(), texts, strict=True):
        if reasons[i] is None:
            try:
                orjson.loads(text)
            except orjson.JSONDecodeError:
                reasons[i] = "invalid_json"
    return table.set_column(2, "pre_reason", pa.array(reasons, pa.string()))
