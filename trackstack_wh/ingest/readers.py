"""Readers: every supported file becomes chunks of raw JSON records with their line numbers.

A chunk is an Arrow table ``(line_no int64, raw string, pre_reason string)``; the rest of
the pipeline sees only that. NDJSON is split in bounded blocks without per-line Python
parsing; records DuckDB's lenient JSON parser would accept (trailing commas, NaN, inf) are
re-checked strictly, and lines that are not UTF-8 are kept (with their bytes escaped)
and marked. CSV and Parquet rows are re-encoded as JSON objects of their columns.
"""

from __future__ import annotations

import csv
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
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trackstack_wh.errors import UnreadableFileError
from trackstack_wh.ingest import row_groups
from trackstack_wh.sink.segments import HEADER_KEY, HEADER_PREFIX, is_segment

BLOCK_BYTES = 16 << 20
"""NDJSON is read in blocks of this size into the reader's buffer; it is also the size
of the pieces in which line breaks are cut out of a chunk's bytes."""

PARQUET_BATCH_ROWS = 200_000
SUPPORTED = (".ndjson", ".jsonl", ".json", ".csv", ".parquet")
LENIENT_JSON_PATTERN = r",\s*[\]}]|[:,\[]\s*-?(?i:nan|inf)"
"""Text DuckDB's parser accepts but strict JSON does not (a trailing comma; NaN, Inf or
Infinity in any letter case as a value): lines with it are re-checked strictly."""

CHUNK_SCHEMA = pa.schema(
    [("line_no", pa.int64()), ("raw", pa.string()), ("pre_reason", pa.string())]
)


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


def read_chunks(path: Path) -> Iterator[pa.Table]:
    """Yield the records of one file as chunks; raise UnreadableFileError if it can't be read."""
    fmt, gzipped = file_format(path)
    try:
        if is_segment(path):
            with _open(path, gzipped) as stream:
                yield from _landing_chunks(stream)
        elif fmt in (".ndjson", ".jsonl"):
            with _open(path, gzipped) as stream:
                yield from _ndjson_chunks(stream)
        elif fmt == ".json":
            with _open(path, gzipped) as stream:
                yield _json_document(path, stream.read())
        elif fmt == ".csv":
            yield from _csv_chunks(path)
        else:
            yield from _parquet_chunks(path)
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(str(path), f"cannot read the file: {exc}") from exc
    except (pa.ArrowInvalid, pl.exceptions.PolarsError) as exc:
        raise UnreadableFileError(str(path), f"not a valid {fmt[1:]} file: {exc}") from exc


def _open(path: Path, gzipped: bool) -> io.BufferedIOBase:
    return gzip.open(path, "rb") if gzipped else open(path, "rb")


def _ndjson_chunks(stream: io.BufferedIOBase) -> Iterator[pa.Table]:
    """The file's lines in chunks of one row group each (`row_groups.ROW_GROUP_ROWS`
    lines; the last may be shorter), so regrouping them costs no copy.

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
        while count >= rows:
            positions = np.concatenate(newlines)
            cut = int(positions[rows - 1])
            chunk, next_line = _lines_chunk(buf[:cut], positions[: rows - 1], next_line, mask)
            yield chunk
            rest = size - cut - 1
            buf.data[:rest] = buf.data[cut + 1 : size]
            newlines, count, size = [positions[rows:] - (cut + 1)], positions.size - rows, rest
    positions = np.concatenate(newlines) if newlines else np.empty(0, dtype=np.int64)
    ends_with_break = bool(positions.size) and positions[-1] == size - 1
    if ends_with_break:  # the last line's break ends the file, not another line
        size, positions = size - 1, positions[:-1]
    if size or ends_with_break:  # an empty last line is still a (blank) line
        yield _lines_chunk(buf[:size], positions, next_line, mask)[0]


def _landing_chunks(stream: io.BufferedIOBase) -> Iterator[pa.Table]:
    """A landing segment: its event lines as records, each event object stamped with its
    batch's id, project and receive time (from the header line before it). The header
    lines themselves go into the chunk's metadata (``edge_batches``, a JSON array)."""
    stamps: str | None = None  # of the batch the next lines belong to (across chunks)
    for chunk in _ndjson_chunks(stream):
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


def _records_chunk(
    raw: list[str] | pa.Array, line_no: np.ndarray, pre_reason: list[str | None] | None = None
) -> pa.Table:
    n = len(raw)
    reasons = pa.nulls(n, pa.string()) if pre_reason is None else pa.array(pre_reason, pa.string())
    return pa.table(
        [pa.array(line_no, pa.int64()), pa.array(raw, pa.string()), reasons], schema=CHUNK_SCHEMA
    )


def _json_document(path: Path, data: bytes) -> pa.Table:
    """A .json file: an edge body ``{"events": [...]}``, a JSON array, or one event object."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise UnreadableFileError(
            str(path),
            f"not valid JSON ({exc}); a .json file must hold one JSON "
            'document: {"events": [...]}, an array or one event',
        ) from exc
    if isinstance(doc, dict) and isinstance(doc.get("events"), list):
        items = doc["events"]
    elif isinstance(doc, list):
        items = doc
    else:
        items = [doc]
    raw = [orjson.dumps(item).decode() for item in items]
    return _records_chunk(raw, np.arange(1, len(raw) + 1))


def _rows_as_json(frame: pl.DataFrame) -> pa.Array:
    return frame.select(pl.struct(pl.all()).struct.json_encode())[:, 0].to_arrow()


def _csv_chunks(path: Path) -> Iterator[pa.Table]:
    """CSV with a header row; every cell is read as text. Line numbers are physical lines
    for files without quoted line breaks; a row with the wrong number of cells is kept
    (as its text) and marked ``invalid_csv``. Read single-threaded so that pyarrow reports
    the line number of each bad row."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise UnreadableFileError(str(path), "the CSV file has no header row")
    bad: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad.append((row.number or 0, row.text))
        return "skip"

    table = pacsv.read_csv(
        path,
        read_options=pacsv.ReadOptions(
            column_names=header, skip_rows=1, block_size=16 << 20, use_threads=False
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types={h: pa.string() for h in header},
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )
    bad_lines = np.asarray([n for n, _ in bad], dtype=np.int64)
    total = table.num_rows + len(bad)
    good_lines = np.setdiff1d(np.arange(2, total + 2, dtype=np.int64), bad_lines)[: table.num_rows]
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    for start in range(0, max(table.num_rows, 1), PARQUET_BATCH_ROWS):
        part = frame.slice(start, PARQUET_BATCH_ROWS)
        if part.height:
            yield _records_chunk(_rows_as_json(part), good_lines[start : start + part.height])
    if bad:
        yield _records_chunk([text for _, text in bad], bad_lines, ["invalid_csv"] * len(bad))


def _parquet_chunks(path: Path) -> Iterator[pa.Table]:
    parquet = pq.ParquetFile(path)
    first = 1
    for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield _records_chunk(_rows_as_json(frame), np.arange(first, first + frame.height))
        first += frame.height
