"""Delivery freshness on a small hand-built warehouse with known times: exact p50 / p95 /
max, waiting rows, verdicts against ``[freshness]`` (defaults and overrides), the landing
directory's held events, config errors, and the report's freshness table."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import polars as pl
import pytest

import trackstack_wh as tw
from trackstack_wh.cli import main
from trackstack_wh.config import parse_config
from trackstack_wh.config.freshness import FreshnessThresholds
from trackstack_wh.errors import ConfigError
from trackstack_wh.health import freshness, freshness_verdicts
from trackstack_wh.payloads.build import TABLE_DDL
from trackstack_wh.payloads.spec import PAYLOAD_TABLES
from trackstack_wh.reports import delivery_report
from trackstack_wh.reports.freshness import human_duration
from trackstack_wh.reports.html import render_html
from trackstack_wh.sink.segments import OPEN_SUFFIX, SEGMENT_SUFFIX, backlog
from trackstack_wh.timewindow import TimeWindow

T0 = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
AS_OF = T0 + dt.timedelta(hours=1, minutes=30)
MIN = 60.0
HOUR = 3600.0
DAY = 86400.0


def at(minutes: float = 0, *, days: float = 0) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes, days=days)


def add_event(
    wh: tw.Warehouse,
    event_id: str,
    ts: dt.datetime,
    *,
    ingested: dt.datetime,
    edge_received: dt.datetime | None = None,
) -> None:
    wh.conn.execute(
        "insert into events (event_id, event_name, stage, is_canonical, ts, event_date, "
        "received_at, batch_id, line_no, event_seq, input_shape, ts_inferred, "
        "event_id_generated, warnings, edge_received_at) values "
        "($id, 'Purchase', 'revenue', true, $ts, $ts::date, $ingested, 'b1', 1, 1, 'flat', "
        "false, false, [], $edge)",
        {"id": event_id, "ts": ts, "ingested": ingested, "edge": edge_received},
    )


def add_row(wh: tw.Warehouse, destination: str, event_id: str, status: str = "ready") -> None:
    table = PAYLOAD_TABLES[destination]
    wh.conn.execute(TABLE_DDL.format(table=table))
    wh.conn.execute(
        f"insert into {table} (event_id, destination, request_kind, event_time, status, "
        "warnings, settings_hash, built_at) "
        "select event_id, $dest, 'events', ts, $status, [], 'h', now() from events "
        "where event_id = $id",
        {"dest": destination, "id": event_id, "status": status},
    )


def log(
    wh: tw.Warehouse,
    destination: str,
    event_id: str,
    attempt: int,
    sent_at: dt.datetime,
    outcome: str,
    *,
    request: bool = True,
    target: str = "live",
    retry_at: dt.datetime | None = None,
) -> None:
    wh.conn.execute(
        "insert into delivery_log (attempt_id, request_id, run_id, destination, request_kind, "
        "event_id, mode, target, attempt, sent_at, outcome, retry_at) values "
        "(uuid()::varchar, $req, 'r', $dest, 'events', $id, 'live', $target, $attempt, $sent, "
        "$outcome, $retry)",
        {
            "req": "q" if request else None,
            "dest": destination,
            "id": event_id,
            "target": target,
            "attempt": attempt,
            "sent": sent_at,
            "outcome": outcome,
            "retry": retry_at,
        },  # fmt: skip
    )


@pytest.fixture
def books(wh: tw.Warehouse) -> tw.Warehouse:
    """Meta: three rows delivered (one a two-day-old backfill), two waiting, one skipped,
    one sent only to the emulator; HubSpot: one row of an event that waited three days
    in landing before ingest, delivered an hour after ingest."""
    add_event(wh, "m1", at(0), ingested=at(5))
    add_event(wh, "m2", at(0), ingested=at(1))
    add_event(wh, "m3", at(days=-2), ingested=at(0))  # backfilled: late, not our delay
    add_event(wh, "m4", at(60), ingested=at(60))
    add_event(wh, "m5", at(70), ingested=at(85), edge_received=at(80))
    add_event(wh, "m6", at(0), ingested=at(0))
    add_event(wh, "m7", at(40), ingested=at(40))
    add_event(wh, "h1", at(days=-3), ingested=at(0), edge_received=at(days=-3))
    for event_id in ("m1", "m2", "m3", "m4", "m5", "m7"):
        add_row(wh, "meta", event_id)
    add_row(wh, "meta", "m6", status="skipped")
    add_row(wh, "hubspot", "h1")
    log(wh, "meta", "m1", 1, at(10), "delivered")
    log(wh, "meta", "m2", 1, at(20), "retry_scheduled")
    log(wh, "meta", "m2", 2, at(30), "delivered")
    log(wh, "meta", "m3", 1, at(2), "delivered")
    log(wh, "meta", "m5", 0, at(86), "dry_run", request=False)  # a dry run is no send
    log(wh, "meta", "m7", 1, at(43), "delivered", target="emulator")
    log(wh, "hubspot", "h1", 1, at(60), "delivered")
    return wh


def test_freshness_figures_are_exact(books: tw.Warehouse) -> None:
    frame = freshness(books.conn, as_of=AS_OF)
    meta = frame.filter(destination="meta").row(0, named=True)
    assert (meta["mode"], meta["target"], meta["sent"], meta["delivered"]) == ("live", "live", 3, 3)
    # Event to first send: 10 min, 20 min, 2 days 2 min; p95 interpolates linearly.
    send = [10 * MIN, 20 * MIN, 2 * DAY + 2 * MIN]
    assert meta["event_to_send_p50_s"] == pytest.approx(send[1])
    assert meta["event_to_send_p95_s"] == pytest.approx(send[1] + 0.9 * (send[2] - send[1]))
    assert meta["event_to_send_max_s"] == pytest.approx(send[2])
    # To delivery: m2 was retried, delivered at 30 min.
    assert meta["event_to_delivery_p50_s"] == pytest.approx(30 * MIN)
    assert meta["event_to_delivery_max_s"] == pytest.approx(send[2])
    # Our own lag starts when the event reached us: 5 min, 1 min and 0 min past its time.
    assert [meta[f"lag_to_send_{s}_s"] for s in ("p50", "p95", "max")] == pytest.approx(
        [5 * MIN, 5 * MIN + 0.9 * 14 * MIN, 19 * MIN]
    )
    assert [meta[f"lag_to_delivery_{s}_s"] for s in ("p50", "p95", "max")] == pytest.approx(
        [5 * MIN, 5 * MIN + 0.9 * 24 * MIN, 29 * MIN]
    )
    # Waiting: m4 (never sent), m5 (a dry run only; it reached us at 80 min, by the
    # sink's clock) and m7 (sent to the emulator only, so it waits for the live target).
    assert meta["pending"] == 3
    assert meta["oldest_pending_s"] == pytest.approx(50 * MIN)  # m7, from 40 min
    hubspot = frame.filter(destination="hubspot").row(0, named=True)
    assert hubspot["lag_to_delivery_p95_s"] == pytest.approx(3 * DAY + HOUR)
    assert hubspot["pending"] == 0 and hubspot["oldest_pending_s"] is None


def test_window_mode_and_target_choose_the_rows(books: tw.Warehouse) -> None:
    day = freshness(books.conn, window=TimeWindow.days(T0.date()), as_of=AS_OF)
    meta = day.filter(destination="meta").row(0, named=True)
    assert meta["sent"] == 2 and meta["event_to_send_max_s"] == pytest.approx(20 * MIN)
    assert day.filter(destination="hubspot")["sent"].item() == 0  # its event is 3 days old
    emulator = freshness(books.conn, target="emulator", as_of=AS_OF).filter(destination="meta")
    assert emulator["sent"].item() == 1
    assert emulator["event_to_delivery_max_s"].item() == pytest.approx(3 * MIN)
    assert emulator["target"].item() == "emulator"
    assert freshness(books.conn, mode="test", as_of=AS_OF)["sent"].sum() == 0


def test_empty_warehouse_has_an_empty_frame(wh: tw.Warehouse) -> None:
    frame = freshness(wh.conn)
    assert frame.is_empty() and {"lag_to_delivery_p95_s", "oldest_pending_s"} <= set(frame.columns)
    assert freshness_verdicts(wh.conn) == []


def test_a_stale_destination_warns_and_a_fresh_one_is_ok(books: tw.Warehouse) -> None:
    verdicts = {v.destination: v for v in freshness_verdicts(books.conn, as_of=AS_OF)}
    hubspot, meta = verdicts["hubspot"], verdicts["meta"]
    assert (hubspot.status, hubspot.passed, hubspot.warn_after_seconds) == ("warn", False, DAY)
    assert hubspot.explanation == ("hubspot: pipeline lag p95 to delivery 3 d: over the 24 h limit")
    assert hubspot.figures["lag_to_delivery_p95_s"] == pytest.approx(3 * DAY + HOUR)
    assert meta.passed and meta.status == "ok"
    assert meta.explanation == (
        "meta: fresh: pipeline lag p95 to delivery 27 min, 3 ready row(s) waiting; "
        "within the 60 min limit"
    )
    assert meta.figures["warn_after_s"] == HOUR and meta.figures["pending"] == 3
    # Forty minutes on, meta's oldest waiting row (m7) is 90 min old, over the hour.
    later = {v.destination: v for v in freshness_verdicts(books.conn, as_of=at(130))}
    assert later["meta"].status == "warn"
    assert later["meta"].explanation == (
        "meta: oldest ready row waiting 90 min: over the 60 min limit"
    )


def test_per_destination_overrides(books: tw.Warehouse) -> None:
    config = parse_config(
        {"freshness": {"warn_minutes": 120, "destinations": {"hubspot": 6000, "meta": 20}}}
    )
    thresholds = config.freshness
    assert thresholds.warn_after("tiktok") == dt.timedelta(hours=2)
    assert thresholds.warn_after("salesforce") == dt.timedelta(days=1)
    verdicts = {v.destination: v for v in freshness_verdicts(books.conn, thresholds, as_of=AS_OF)}
    assert verdicts["hubspot"].passed  # 3 days 1 h is within 100 h
    assert not verdicts["meta"].passed  # lag p95 26.6 min is over 20 min
    assert verdicts["meta"].explanation.startswith("meta: pipeline lag p95 to delivery 27 min")


def test_events_held_in_landing_count(books: tw.Warehouse, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / f"seg-20261120T131500000000Z-7-000002{OPEN_SUFFIX}").write_bytes(b"")
    (landing / f"seg-20261120T120000000000Z-7-000001{SEGMENT_SUFFIX}").write_bytes(b"x" * 10)
    held = backlog(landing, as_of=AS_OF)
    assert (held.open_segments, held.oldest_open_seconds) == (1, 15 * MIN)
    assert (held.closed_segments, held.closed_bytes) == (1, 10)
    assert held.oldest_closed_seconds == 90 * MIN and held.oldest_seconds == 90 * MIN
    assert backlog(tmp_path / "none") == type(held)()
    verdicts = freshness_verdicts(books.conn, landing=landing, as_of=at(70))
    meta = next(v for v in verdicts if v.destination == "meta")
    assert not meta.passed
    assert "oldest landing segment not ingested 70 min" in meta.explanation
    assert meta.figures["landing_open_segments"] == 1
    assert meta.figures["landing_oldest_open_s"] == pytest.approx(-5 * MIN)  # made later


def test_the_report_shows_freshness_in_human_units(books: tw.Warehouse, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / f"seg-20261120T130000000000Z-7-000001{SEGMENT_SUFFIX}").write_bytes(b"{}\n")
    report = delivery_report(books.conn, landing=landing, as_of=AS_OF)
    fresh = report.table("freshness")
    assert fresh.filter(destination="meta")["status"].item() == "ok"
    assert fresh.filter(destination="hubspot")["status"].item() == "warn"
    assert fresh.filter(destination="hubspot")["warn_after_s"].item() == DAY
    assert report.table("landing")["closed_segments"].item() == 1
    assert any(n.startswith("Freshness: hubspot: pipeline lag") for n in report.notes)
    page = render_html([report], title="t")
    assert "<h3>freshness</h3>" in page and "<h3>landing</h3>" in page
    assert "pipeline lag → delivery (p50 / p95 / max)" in page
    assert "<td>5 min / 27 min / 29 min</td>" in page  # meta's lag to delivery
    assert "<td>20 min / 43.3 h / 2 d</td>" in page  # meta's event to send
    assert "<td>warn</td>" in page
    text = report.to_text("freshness")
    assert "oldest waiting" in text and "50 min" in text
    assert '"lag_to_delivery_p95_s"' in report.to_json()  # machine formats keep seconds
    shown = report.display_tables()["freshness"]
    assert shown.columns[:3] == ["destination", "sent", "delivered"]
    assert report.table("freshness").schema["lag_to_send_p50_s"] == pl.Float64


def test_the_report_command_prints_freshness(
    books: tw.Warehouse, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    books.close()
    config = tmp_path / "ts.toml"
    ten_years = 10 * 365 * 24 * 60  # the rows wait from 2026-11-20 on: within any limit
    config.write_text(f"[freshness]\nwarn_minutes = {ten_years}\ncrm_warn_minutes = 1\n")
    db = str(tmp_path / "wh.duckdb")
    args = ["--db", db, "--config", str(config), "report", "delivery"]
    assert main([*args, "--table", "freshness", "--landing", str(tmp_path / "none")]) == 0
    out = capsys.readouterr().out
    assert "pipeline lag → send" in out and "5 min / 27 min / 29 min" in out
    assert "Freshness: hubspot: pipeline lag p95 to delivery 3 d: over the 1 min limit" in out
    assert "Freshness: meta" not in out
    assert main([*args, "--format", "json"]) == 0
    assert "oldest_pending_s" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (4.2, "4 s"), (240, "4 min"), (3600, "60 min"), (7560, "2.1 h"),
     (DAY, "24 h"), (3.5 * DAY, "3.5 d"), (-90, "-2 min")],
)  # fmt: skip
def test_human_duration(seconds: float | None, text: str) -> None:
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ({"freshness": {"warn_minutes": 0}}, "freshness.warn_minutes must be a number of minutes"),
        ({"freshness": {"warn_minutes": "1h"}}, "freshness.warn_minutes must be"),
        ({"freshness": {"crm_warn_minutes": True}}, "freshness.crm_warn_minutes must be"),
        ({"freshness": {"warn_minutes": float("inf")}}, "at most 5,256,000"),
        ({"freshness": {"warn": 5}}, "unknown key freshness.warn; allowed:"),
        ({"freshness": {"destinations": {"facebook": 5}}}, "unknown destination(s) ['facebook']"),
        ({"freshness": {"destinations": {"meta": -1}}}, "freshness.destinations.meta must be"),
        ({"freshness": {"destinations": {"meta": "fast"}}}, "got 'fast'"),
        ({"freshness": 5}, "freshness must be dict"),
    ],
)
def test_freshness_config_errors_name_the_key(toml: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(toml, Path("ts.toml"))


def test_freshness_defaults() -> None:
    assert parse_config({}).freshness == FreshnessThresholds()
    assert FreshnessThresholds().warn_after("meta") == dt.timedelta(hours=1)
    assert FreshnessThresholds().warn_after("hubspot") == dt.timedelta(hours=24)
