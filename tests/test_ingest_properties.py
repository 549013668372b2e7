"""Property tests: whatever bytes arrive, nothing crashes and every record is accounted for."""

from __future__ import annotations

import io
import itertools
import json
from pathlib import Path

import duckdb
import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import trackstack_wh as tw
from trackstack_wh.contract import FIELDS, REASONS_BY_CODE
from trackstack_wh.ingest import readers, row_groups

_counter = itertools.count()
SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

field_names = st.sampled_from(
    [f.name for f in FIELDS] + ["userData", "customData", "event_data", "url", "timestamp"]
)
events = st.dictionaries(field_names, json_values, max_size=8).map(
    lambda d: {"event": "PageView", **d}
)


def _ingest(
    tmp_path: Path, data: bytes, suffix: str = ".ndjson"
) -> tuple[tw.IngestReport, tw.Warehouse]:
    n = next(_counter)
    path = tmp_path / f"in{n}{suffix}"
    path.write_bytes(data)
    wh = tw.connect(tmp_path / f"wh{n}.duckdb")
    return wh.ingest(path), wh


def _assert_accounted(report: tw.IngestReport, wh: tw.Warehouse) -> None:
    [f] = report.files
    if f.status == "unreadable":
        assert f.error
        return
    assert f.balanced
    counts = wh.sql(
        "select ((select count(*) from events) "
        "+ (select count(distinct line_no) from identities))::bigint e, "
        "(select count(*) from quarantine)::bigint q, "
        "(select count(*) from duplicates)::bigint d"
    ).row(0)
    assert counts == (f.rows_valid, f.rows_quarantined, f.rows_duplicate)
    leftovers = wh.sql(
        "select count(*)::bigint n from events where event_name = '' "
        "or len(list_filter(warnings, lambda w: starts_with(w, 'invalid_type'))) > 0"
    )
    assert leftovers["n"][0] == 0, "a row rejected by validation stayed in events"
    reasons = wh.sql("select reason, reasons from quarantine").rows()
    for reason, all_reasons in reasons:
        assert reason.split(":")[0] in REASONS_BY_CODE and all_reasons[0] == reason


@SETTINGS
@given(st.binary(max_size=400))
def test_random_bytes_never_crash_and_are_accounted(tmp_path: Path, data: bytes) -> None:
    report, wh = _ingest(tmp_path, data)
    with wh:
        _assert_accounted(report, wh)
        lines = [x for x in data.removeprefix(b"\xef\xbb\xbf").split(b"\n") if x.strip()]
        assert report.files[0].rows_in + report.files[0].blank_lines >= len(lines)


@SETTINGS
@given(st.lists(json_values, max_size=6))
def test_random_json_values_per_line_are_accounted(tmp_path: Path, values: list[object]) -> None:
    data = "\n".join(json.dumps(v) for v in values).encode()
    report, wh = _ingest(tmp_path, data)
    with wh:
        _assert_accounted(report, wh)
        assert report.files[0].rows_in == len(values)


@SETTINGS
@given(st.lists(events, min_size=1, max_size=6))
def test_random_field_types_are_loaded_or_quarantined_with_a_reason(
    tmp_path: Path, records: list[dict[str, object]]
) -> None:
    data = "\n".join(json.dumps(r) for r in records).encode()
    report, wh = _ingest(tmp_path, data)
    with wh:
        _assert_accounted(report, wh)
        assert report.files[0].rows_in == len(records)


@SETTINGS
@given(st.lists(events, max_size=5))
def test_random_edge_bodies_are_accounted(tmp_path: Path, records: list[dict[str, object]]) -> None:
    report, wh = _ingest(tmp_path, json.dumps({"events": records}).encode(), ".json")
    with wh:
        _assert_accounted(report, wh)
        assert report.files[0].rows_in == len(records)


LENIENT_VALUES = st.sampled_from(
    ["1", '"a"', '"n,]"', '", nan"', "null", "[1, 2]", "nan", "NaN", " -inf", "Infinity", "INF",
     "[1,]", "[nan]", "[ -Inf ]", '{"x":1, }', '"info"', "banana", "[,]", "-"]
)  # fmt: skip
json_like_lines = st.tuples(
    st.lists(LENIENT_VALUES, min_size=1, max_size=3), st.sampled_from(["", ",", ", ", ",\t"])
).map(lambda t: "{" + ", ".join(f'"k{i}":{v}' for i, v in enumerate(t[0])) + t[1] + "}")


@settings(max_examples=150, deadline=None)
@given(st.lists(json_like_lines, min_size=1, max_size=12))
def test_json_only_a_lenient_parser_accepts_is_always_marked_invalid(lines: list[str]) -> None:
    buf = np.frombuffer("\n".join(lines).encode(), dtype=np.uint8)
    chunk, _ = readers._lines_chunk(buf, np.flatnonzero(buf == 10), 1)
    with duckdb.connect() as conn:  # its own connection: the module's default is shared
        [(lenient,)] = conn.execute(
            "select list_transform($1, lambda x: json_valid(x))", [lines]
        ).fetchall()
    for line, duckdb_accepts, reason in zip(
        lines, lenient, chunk["pre_reason"].to_pylist(), strict=True
    ):
        try:
            orjson.loads(line)
            strict = True
        except orjson.JSONDecodeError:
            strict = False
        if strict:
            assert reason is None, line
        elif duckdb_accepts:  # a line neither accepts is rejected later by json_valid
            assert reason == "invalid_json", line


@example(lines=["", ""], newline="\n", trailing_newline=False, bom=False, rows=7, block=8)
@example(lines=["a", "b", "", ""], newline="\n", trailing_newline=False, bom=False, rows=2, block=8)
@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.text(alphabet='{}"ab \t\r,:1é', max_size=40), max_size=60),
    st.sampled_from(["\n", "\r\n"]),
    st.booleans(),
    st.booleans(),
    st.integers(1, 7),
    st.integers(8, 200),
)
def test_ndjson_lines_come_out_whole_numbered_and_in_row_group_chunks(
    lines: list[str],
    newline: str,
    trailing_newline: bool,
    bom: bool,
    rows: int,
    block: int,
) -> None:
    text = newline.join(lines) + (newline if trailing_newline and lines else "")
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(readers, "BLOCK_BYTES", block)
        patch.setattr(row_groups, "ROW_GROUP_ROWS", rows)
        chunks = list(readers._ndjson_chunks(io.BytesIO(data)))
    in_file = text.split("\n")  # lines end at LF; one CR before it is dropped
    if in_file[-1] == "":
        in_file.pop()
    expected = [
        (number, line.removesuffix("\r"))
        for number, line in enumerate(in_file, 1)
        if line.strip(" \t\r")
    ]
    got = [
        (number, raw)
        for chunk in chunks
        for number, raw in zip(chunk["line_no"].to_pylist(), chunk["raw"].to_pylist(), strict=True)
    ]
    assert got == expected
    blank = sum(int((c.schema.metadata or {})[b"blank_lines"]) for c in chunks)
    assert blank + len(got) == len(in_file)
    line_counts = [c.num_rows + int((c.schema.metadata or {})[b"blank_lines"]) for c in chunks]
    assert all(count == rows for count in line_counts[:-1])
