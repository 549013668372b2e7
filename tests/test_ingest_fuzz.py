"""Fuzzing every file reader with hostile input: huge records, deep nesting, invalid
encodings, random bytes, duplicate keys, numbers out of range, broken gzip members, CSV
rows of any shape. Nothing crashes, and every record is loaded, quarantined with a
reason, or counted as a duplicate; a file that cannot be read says why."""

from __future__ import annotations

import dataclasses
import gzip
import io
import itertools
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trackstack_wh as tw
from tests.test_ingest_properties import _assert_accounted
from trackstack_wh.config import load_config
from trackstack_wh.config.ingest import IngestSettings
from trackstack_wh.ingest import readers
from trackstack_wh.ingest.chunk import cap_records

MAX_RECORD = 2048
FUZZ = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
_counter = itertools.count()

EVENT = b'{"event":"ContentView","eventId":"e%d","ts":1788227593127,"contentType":"blog"}'
HOSTILE = st.sampled_from(
    [
        b'{"event":"SignUp","event":"Purchase","eventId":"dup","email":"a@b.example"}',
        b'{"event":"Purchase","eventId":"big","value":1e999,"currency":"USD","transactionId":"t"}',
        b'{"event":"Purchase","eventId":"n","value":123456789012345678901234567890,'
        b'"currency":"USD","transactionId":"t"}',
        b'{"event":"ContentView","eventId":"s","contentType":"\\ud800"}',
        b'{"event":"ContentView","eventId":"z","contentType":"a\\u0000b"}',
        b"[" * 2000 + b"]" * 2000,
        b'{"event":"ContentView","eventId":"deep","x":' + b"[" * 3000 + b"]" * 3000 + b"}",
        b'{"event":"ContentView","eventId":"long","pageUrl":"' + b"x" * 5000 + b'"}',
        b'{"event":"Caf\xe9","eventId":"latin"}',
        b"\xef\xbb\xbf" + EVENT % 1,
        b'{"event":"ContentView",}',
        b"NaN",
        b"\x00\x01\x02",
        b"",
        b"   ",
    ]
)
record_bytes = st.one_of(
    HOSTILE, st.binary(max_size=60), st.integers(0, 10**6).map(lambda i: EVENT % i)
)


def _warehouse(tmp_path: Path) -> tw.Warehouse:
    config = dataclasses.replace(load_config(None), ingest=IngestSettings(MAX_RECORD, 1 << 20))
    return tw.connect(tmp_path / f"wh{next(_counter)}.duckdb", config=config)


def _check(tmp_path: Path, name: str, data: bytes) -> tw.FileReport:
    path = tmp_path / f"{next(_counter)}_{name}"
    path.write_bytes(data)
    with _warehouse(tmp_path) as wh:
        report = wh.ingest(path)
        [f] = report.files
        assert f.status in ("loaded", "empty", "unreadable"), f
        if f.status == "unreadable":
            assert f.error and "Traceback" not in f.error
        else:
            _assert_accounted(report, wh)
            too_long = wh.sql("select count(*) from quarantine where strlen(raw) > $n",
                              n=MAX_RECORD * 2)  # fmt: skip
            assert too_long.item() == 0, "a record over the limit was kept whole"
    return f


@FUZZ
@given(st.lists(record_bytes, max_size=12), st.sampled_from([b"\n", b"\r\n"]))
def test_ndjson_of_hostile_records(tmp_path: Path, records: list[bytes], newline: bytes) -> None:
    f = _check(tmp_path, "in.ndjson", newline.join(records))
    assert f.status != "unreadable"


@FUZZ
@given(
    st.lists(st.lists(record_bytes, max_size=5), min_size=1, max_size=3),
    st.one_of(st.none(), st.integers(0, 200)),
)
def test_gzip_of_several_members_possibly_cut(
    tmp_path: Path, members: list[list[bytes]], cut: int | None
) -> None:
    data = b"".join(gzip.compress(b"\n".join(m) + b"\n") for m in members)
    whole = cut is None or cut >= len(data)
    f = _check(tmp_path, "in.ndjson.gz", data if whole else data[:cut])
    if whole:
        assert f.status != "unreadable"
        assert f.rows_in + f.blank_lines >= sum(1 for m in members for r in m if r.strip())


@FUZZ
@given(st.lists(record_bytes, max_size=8), st.sampled_from(["array", "events", "garbage"]))
def test_json_documents(tmp_path: Path, records: list[bytes], shape: str) -> None:
    items = b",".join(r if r.strip() else b"null" for r in records)
    data = {
        "array": b"[" + items + b"]",
        "events": b'{"events":[' + items + b"]}",
        "garbage": b"[" + items + b"] trailing",
    }[shape]
    _check(tmp_path, "in.json", data)


cells = st.one_of(
    st.binary(max_size=12),
    st.sampled_from(
        [
            b"ContentView",
            b"Purchase",
            b"1788227593127",
            b'"a,b"',
            b'"open',
            b"x" * 3000,
            b"\xe9",
            b"",
        ]
    ),  # fmt: skip
)


@FUZZ
@given(
    st.lists(st.lists(cells, min_size=1, max_size=6), max_size=10),
    st.sampled_from([b"event,eventId,ts,contentType", b"event_name,x", b"a,b,c"]),
)
def test_csv_rows_of_any_shape(tmp_path: Path, rows: list[list[bytes]], header: bytes) -> None:
    data = header + b"\n" + b"\n".join(b",".join(r) for r in rows) + b"\n"
    f = _check(tmp_path, "in.csv", data)
    if header == b"a,b,c":
        assert f.status == "unreadable" and "expected an event-name column" in (f.error or "")


@FUZZ
@given(
    st.lists(st.tuples(st.text(max_size=12), st.integers(-(2**63), 2**63 - 1)), max_size=10),
    st.booleans(),
)
def test_parquet_columns_of_any_type(
    tmp_path: Path, rows: list[tuple[str, int]], with_event: bool
) -> None:
    names = [r[0] for r in rows]
    numbers = [r[1] for r in rows]
    table = pa.table({"event" if with_event else "kind": names, "ts": numbers,
                      "value": [float(n) for n in numbers]})  # fmt: skip
    sink = io.BytesIO()
    pq.write_table(table, sink)
    f = _check(tmp_path, "in.parquet", sink.getvalue())
    assert (f.status == "unreadable") is not with_event


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(st.just(""), st.text(alphabet="ab{}é", min_size=1, max_size=300)), max_size=30
    ),
    st.integers(8, 120),
    st.booleans(),
)
def test_every_line_comes_out_whole_or_as_its_length(
    lines: list[str], block: int, trailing_newline: bool
) -> None:
    limit = 1024
    text = "\n".join(line * 5 for line in lines) + ("\n" if trailing_newline else "")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "BLOCK_BYTES", block)
        read = readers._ndjson_chunks(io.BytesIO(text.encode()), limit)
        chunks = [cap_records(c, limit) for c in read]
    got = [
        (n, raw, reason)
        for c in chunks
        for n, raw, reason in zip(*(c[k].to_pylist() for k in c.column_names), strict=True)
    ]
    expected = []
    for number, line in enumerate((line * 5 for line in lines), 1):
        size = len(line.encode())
        if size > limit:
            expected.append((number, f"a record of {size} bytes", "record_too_large"))
        elif line:
            expected.append((number, line, None))
    assert [(n, reason) for n, _, reason in got] == [(n, r) for n, _, r in expected]
    for (_, raw, reason), (_, want, _) in zip(got, expected, strict=True):
        assert (want in raw) if reason else raw == want
