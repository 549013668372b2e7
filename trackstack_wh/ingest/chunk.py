"""The unit every reader hands on: a chunk of raw records with their line numbers.

A chunk is an Arrow table ``(line_no int64, raw string, pre_reason string)``;
``pre_reason`` marks records a reader already knows are bad (``invalid_utf8``,
``csv_shape``, ``record_too_large``...), which skip parsing and go to quarantine.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

CHUNK_SCHEMA = pa.schema(
    [("line_no", pa.int64()), ("raw", pa.string()), ("pre_reason", pa.string())]
)
PREVIEW_BYTES = 1024
"""How much of a record over the size limit is kept (in quarantine's ``raw``)."""
TOO_LARGE = "record_too_large"


def records_chunk(
    raw: list[str] | pa.Array, line_no: np.ndarray, pre_reason: list[str | None] | None = None
) -> pa.Table:
    """A chunk from records and their line numbers (``pre_reason``: None for all)."""
    n = len(raw)
    reasons = pa.nulls(n, pa.string()) if pre_reason is None else pa.array(pre_reason, pa.string())
    return pa.table(
        [pa.array(line_no, pa.int64()), pa.array(raw, pa.string()), reasons], schema=CHUNK_SCHEMA
    )


def too_large_text(head: bytes, length: int) -> str:
    """What quarantine keeps of a record of ``length`` bytes that begins with ``head``."""
    preview = head[:PREVIEW_BYTES].decode("utf-8", errors="backslashreplace")
    return f"{preview} ... [a record of {length} bytes; its first {PREVIEW_BYTES} are kept]"


def too_large_chunk(head: bytes, length: int, line_no: int) -> pa.Table:
    """A chunk of one record over the size limit (read no further than ``head``)."""
    return records_chunk([too_large_text(head, length)], np.array([line_no]), [TOO_LARGE])


def cap_records(chunk: pa.Table, max_bytes: int) -> pa.Table:
    """The chunk with every record longer than ``max_bytes`` replaced by its first bytes
    and length, marked ``record_too_large`` (metadata kept)."""
    over = pc.greater(pc.binary_length(chunk["raw"]), max_bytes)
    rows = np.flatnonzero(over.to_numpy(zero_copy_only=False))
    if rows.size == 0:
        return chunk
    raw = chunk["raw"].to_pylist()
    reasons = chunk["pre_reason"].to_pylist()
    for i in rows.tolist():
        text = raw[i]
        raw[i] = too_large_text(text[:PREVIEW_BYTES].encode(), len(text.encode()))
        reasons[i] = TOO_LARGE
    capped = chunk.set_column(1, "raw", pa.array(raw, pa.string()))
    return capped.set_column(2, "pre_reason", pa.array(reasons, pa.string()))
