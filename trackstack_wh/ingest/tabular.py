"""Readers of whole-document and columnar files: .json documents, CSV and Parquet.

Rows of CSV and Parquet are re-encoded as JSON objects of their columns. A file whose
columns cannot be mapped to the contract (no event-name column) fails as a file; a bad
CSV row (wrong cell count, bad quoting, bytes that are not UTF-8) is one quarantined
record, never the whole file.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from trackstack_wh.config.ingest import IngestSettings
from trackstack_wh.contract import FIELDS
from trackstack_wh.errors import UnreadableFileError
from trackstack_wh.ingest.chunk import records_chunk
from trackstack_wh.sink.body import BodyError, InvalidJson, parse_body

BATCH_ROWS = 200_000
CSV_BLOCK_BYTES = 16 << 20
EVENT_NAME_COLUMNS = (FIELDS[0].name, *FIELDS[0].aliases, "type")
"""A table needs one of these columns: the event name (``type`` for identify records)."""
INVALID_BYTE_MARK = "\uffff"
"""Put before each escaped byte that is not UTF-8 while a CSV file is read (a
noncharacter; a row is only judged by it once the decoder has met a bad byte)."""


def _mark_invalid_bytes(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return "".join(f"{INVALID_BYTE_MARK}\\x{b:02x}" for b in bad), error.end


codecs.register_error("trackstack_mark_invalid", _mark_invalid_bytes)


class _Utf8Marked(io.RawIOBase):
    """A binary file re-encoded as UTF-8, each byte that was not UTF-8 written as
    ``INVALID_BYTE_MARK`` and its ``\\xNN`` escape (``replaced`` says if any was)."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="trackstack_mark_invalid")
        self._pending = memoryview(b"")
        self._ended = False
        self.replaced = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._ended:
            data = self._raw.read(CSV_BLOCK_BYTES)
            self._ended = not data
            text = self._decoder.decode(data, final=self._ended)
            self.replaced = self.replaced or INVALID_BYTE_MARK in text
            self._pending = memoryview(text.encode())
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def _require_event_column(path: Path, columns: list[str]) -> None:
    """Fail the file when no column can hold the event name."""
    if not set(columns) & set(EVENT_NAME_COLUMNS):
        found = ", ".join(columns[:30]) + (" ..." if len(columns) > 30 else "")
        raise UnreadableFileError(
            str(path),
            "the columns cannot be mapped to the TrackStack contract: expected an event-name "
            f"column ({', '.join(EVENT_NAME_COLUMNS)}), found: {found or '(none)'}; "
            "rename the column that holds the event name",
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise UnreadableFileError(
            str(path), f"duplicate column names {duplicated}; give each column one name"
        )


def _rows_as_json(frame: pl.DataFrame) -> pa.Array:
    return frame.select(pl.struct(pl.all()).struct.json_encode())[:, 0].to_arrow()


def json_document_chunks(
    path: Path, stream: io.BufferedIOBase, limits: IngestSettings
) -> Iterator[pa.Table]:
    """A .json file: an edge body ``{"events": [...]}``, a JSON array, or one event object
    (at most ``max_document_bytes``; its items are kept as sent, not re-encoded)."""
    data = stream.read(limits.max_document_bytes + 1)
    if len(data) > limits.max_document_bytes:
        raise UnreadableFileError(
            str(path),
            f"a .json document over {limits.max_document_bytes} bytes is read whole; write "
            "one event per line (.ndjson) instead, or raise [ingest] max_document_bytes",
        )
    data = data.removeprefix(b"\xef\xbb\xbf")
    if not data.strip():
        return
    try:
        items = parse_body(data).events
    except InvalidJson as exc:
        problem = str(exc).removeprefix("the body is not valid JSON: ")
        raise UnreadableFileError(str(path), f"not valid JSON: {problem}") from exc
    except BodyError as exc:
        raise UnreadableFileError(
            str(path), f'a .json file holds {{"events": [...]}}, an array or one event: {exc}'
        ) from exc
    except RecursionError as exc:
        raise UnreadableFileError(
            str(path), "the JSON is nested too deeply to read; send events as flat objects"
        ) from exc
    raw: list[str] = []
    reasons: list[str | None] = []
    for item in items:
        try:
            raw.append(bytes(item).decode())
            reasons.append(None)
        except UnicodeDecodeError:
            raw.append(bytes(item).decode(errors="backslashreplace"))
            reasons.append("invalid_utf8")
    yield records_chunk(raw, np.arange(1, len(raw) + 1), reasons)


def csv_chunks(path: Path) -> Iterator[pa.Table]:
    """CSV with a header row, every cell read as text, in bounded batches.

    Line numbers count CSV records (the header is 1; the same as physical lines unless a
    quoted value spans lines). A row with the wrong number of cells or broken quoting is
    kept as its text and marked ``csv_shape``; a row with bytes that are not UTF-8 is
    kept with them escaped and marked ``invalid_utf8``.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise UnreadableFileError(str(path), "the CSV file is empty or has no header row")
    _require_event_column(path, header)
    shape_errors: list[tuple[int, str]] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        shape_errors.append((row.number or 0, row.text))
        return "skip"

    with open(path, "rb") as raw:
        marked = _Utf8Marked(raw)
        reader = pacsv.open_csv(
            io.BufferedReader(marked, CSV_BLOCK_BYTES),
            read_options=pacsv.ReadOptions(
                column_names=header, skip_rows=1, block_size=CSV_BLOCK_BYTES, use_threads=False
            ),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=True,
                quoted_strings_can_be_null=False,
            ),
        )
        lines = _CsvLines()
        for batch in reader:
            lines.skip(n for n, _ in shape_errors)
            yield _csv_batch_chunk(batch, lines.take(batch.num_rows), marked.replaced)
            yield from _shape_chunk(shape_errors, marked.replaced)
            shape_errors.clear()
        yield from _shape_chunk(shape_errors, marked.replaced)


class _CsvLines:
    """Record numbers of a CSV's good rows: 2, 3, ... without those of rejected rows."""

    def __init__(self) -> None:
        self._next = 2
        self._rejected: set[int] = set()

    def skip(self, numbers: Iterator[int]) -> None:
        self._rejected.update(numbers)

    def take(self, n: int) -> np.ndarray:
        """The numbers of the next ``n`` good rows."""
        ahead = np.array(sorted(r for r in self._rejected if r >= self._next), dtype=np.int64)
        span = np.arange(self._next, self._next + n + ahead.size, dtype=np.int64)
        numbers = span[~np.isin(span, ahead)][:n]
        if n:
            self._next = int(numbers[-1]) + 1
        self._rejected = {r for r in self._rejected if r >= self._next}
        return numbers


def _csv_batch_chunk(batch: pa.RecordBatch, line_no: np.ndarray, replaced: bool) -> pa.Table:
    frame = pl.from_arrow(batch)
    assert isinstance(frame, pl.DataFrame)
    raw = _rows_as_json(frame)
    if not replaced:
        return records_chunk(raw, line_no)
    invalid = frame.select(
        pl.any_horizontal(pl.all().str.contains(INVALID_BYTE_MARK, literal=True).fill_null(False))
    ).to_series()
    pre_reason = None
    if invalid.any():
        pre_reason = ["invalid_utf8" if bad else None for bad in invalid.to_list()]
    unmarked = pl.Series(raw).str.replace_all(INVALID_BYTE_MARK, "", literal=True).to_arrow()
    return records_chunk(unmarked, line_no, pre_reason)


def _shape_chunk(errors: list[tuple[int, str]], replaced: bool) -> Iterator[pa.Table]:
    """Rows whose shape does not match the header (``invalid_utf8`` when also not UTF-8)."""
    if not errors:
        return
    texts = [text for _, text in errors]
    reasons: list[str | None] = [
        "invalid_utf8" if replaced and INVALID_BYTE_MARK in t else "csv_shape" for t in texts
    ]
    texts = [t.replace(INVALID_BYTE_MARK, "") for t in texts]
    yield records_chunk(texts, np.array([n for n, _ in errors], dtype=np.int64), reasons)


def parquet_chunks(path: Path) -> Iterator[pa.Table]:
    """A Parquet file's rows in batches; it must have an event-name column."""
    parquet = pq.ParquetFile(path)
    _require_event_column(path, parquet.schema_arrow.names)
    first = 1
    for batch in parquet.iter_batches(batch_size=BATCH_ROWS):
        frame = pl.from_arrow(batch)
        assert isinstance(frame, pl.DataFrame)
        yield records_chunk(_rows_as_json(frame), np.arange(first, first + frame.height))
        first += frame.height
