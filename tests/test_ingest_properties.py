"""Property tests: whatever bytes arrive, nothing crashes and every record is accounted for."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trackstack_wh as tw
from trackstack_wh.contract import FIELDS, REASONS_BY_CODE

_counter = itertools.count()
SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
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
        "select (select count(*) from events)::bigint e, "
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
