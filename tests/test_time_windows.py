"""Day-scoped library work: TimeWindow, windowed payload builds, conformance rules,
daily marts and the Parquet export."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pytest

import trackstack_wh as tw
from trackstack_wh.export import export_days
from trackstack_wh.marts import refresh_mart
from trackstack_wh.payloads.conformance import check_conformance

ROOT = Path(__file__).parent.parent
CLOCK = dt.datetime(2026, 10, 22, 12, tzinfo=dt.UTC)
DAYS = tw.TimeWindow.days("2026-10-20", "2026-10-21")


@pytest.fixture
def sample(tmp_path: Path) -> tw.Warehouse:
    wh = tw.connect(tmp_path / "w.duckdb", config=ROOT / "trackstack.toml")
    wh.ingest(ROOT / "data" / "samples")
    return wh


def test_time_window_days() -> None:
    assert DAYS.start == dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
    assert DAYS.end == dt.datetime(2026, 10, 22, tzinfo=dt.UTC)
    assert DAYS.dates() == [dt.date(2026, 10, 20), dt.date(2026, 10, 21)]
    assert DAYS.whole_days()
    assert not tw.TimeWindow(DAYS.start, DAYS.end - dt.timedelta(hours=1)).whole_days()
    with pytest.raises(ValueError, match="before first day"):
        tw.TimeWindow.days("2026-10-21", "2026-10-20")
    with pytest.raises(ValueError, match="timezone-aware"):
        tw.TimeWindow(dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)).check()


def test_windowed_build_touches_only_its_days(sample: tw.Warehouse) -> None:
    [built] = sample.build_payloads(as_of=CLOCK, destinations=["meta"], window=DAYS)
    days = sample.sql("select distinct event_time::date as d from capi_meta order by 1")["d"]
    assert days.to_list() == DAYS.dates()
    assert built.inserted > 0
    [again] = sample.build_payloads(as_of=CLOCK, destinations=["meta"], window=DAYS)
    assert (again.inserted, again.rebuilt) == (0, 0)
    sample.build_payloads(as_of=CLOCK, destinations=["meta"])  # every day
    total = sample.sql("select count(*) from capi_meta").item()
    [rebuilt] = sample.build_payloads(as_of=CLOCK, destinations=["meta"], window=DAYS, rebuild=True)
    assert rebuilt.rebuilt == rebuilt.inserted == built.inserted
    assert sample.sql("select count(*) from capi_meta").item() == total


def test_conformance_names_each_broken_rule(sample: tw.Warehouse) -> None:
    sample.build_payloads(as_of=CLOCK, window=DAYS)
    assert all(check_conformance(sample.conn, d).ok for d in ("meta", "linkedin", "tiktok"))
    sample.sql(
        "update capi_meta set payload = json_merge_patch(payload, "
        '\'{"event_time": 1, "user_data": {"em": ["Jane@Example.com"]}}\') '
        "where event_id = (select min(event_id) from capi_meta where status = 'ready')"
    )
    sample.sql(
        'update capi_tiktok set payload = json_merge_patch(payload, \'{"event_id": "other"}\') '
        "where event_id = (select min(event_id) from capi_tiktok where status = 'ready')"
    )
    meta = check_conformance(sample.conn, "meta", DAYS)
    assert meta.counts() == {
        "hashed:$.user_data.em[*]": 1,
        "no_readable_email": 1,
        "time_seconds:$.event_time": 1,
    }
    assert check_conformance(sample.conn, "tiktok").counts() == {"dedup_key:$.event_id": 1}


def test_marts_and_export_rerun_to_the_same_result(sample: tw.Warehouse, tmp_path: Path) -> None:
    sample.refresh_quality()
    sample.build_payloads(as_of=CLOCK, window=DAYS)
    first = refresh_mart(sample.conn, "funnel_daily", DAYS).frame
    assert refresh_mart(sample.conn, "funnel_daily", DAYS).frame.equals(first)
    assert (
        first["events"].sum()
        == sample.sql(
            "select count(*) from events where ts >= $a and ts < $b", a=DAYS.start, b=DAYS.end
        ).item()
    )
    with pytest.raises(ValueError, match="whole UTC days"):
        refresh_mart(sample.conn, "funnel_daily", tw.TimeWindow(DAYS.start, CLOCK))

    root = tmp_path / "export"
    files = export_days(sample.conn, root, DAYS)
    again = export_days(sample.conn, root, DAYS)
    assert [(f.path, f.rows) for f in files] == [(f.path, f.rows) for f in again]
    assert not list(root.rglob("*.partial"))
    [(meta_rows,)] = duckdb.sql(
        f"select count(*) from read_parquet('{root}/capi_meta/*/*.parquet', "
        "hive_partitioning = true)"
    ).fetchall()
    assert meta_rows == sample.sql("select count(*) from capi_meta").item()
