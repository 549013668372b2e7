"""Warnings beside deliveries (seed 003): every delivery log row carries its event's
quality score and warnings as they were when it was sent, so ``deliveries`` and the
delivery report (``with_warnings``, ``report delivery --with-warnings``) can show what
was delivered with warnings; the lookup covers only the rows a push may send."""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import polars as pl
import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines
from trackstack_lab.emulator.app import create_app
from trackstack_lab.emulator.process import emulator_secrets
from trackstack_wh.cli import main
from trackstack_wh.config import EMULATOR_TARGET
from trackstack_wh.delivery import engine, logwriter, quality_snapshot

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
T = AS_OF - dt.timedelta(hours=3)
CONFIG = """
[workspace]
value_unit = "minor"

[destinations.meta]
enabled = true
pixel_id = "100000000000001"
access_token_env = "TRACKSTACK_WARNINGS_TEST_META_TOKEN"
"""
STRONG = {"email": "pat@acme.example", "phone": "+16505551212", "externalId": "u1",
          "fbclid": "IwAR1", "firstName": "Pat", "lastName": "Lee", "zip": "94025",
          "city": "Menlo Park", "country": "US"}  # fmt: skip


def events() -> list[str]:
    return [
        event_line("Purchase", "good", T, value=9900, currency="USD", transactionId="t1",
                   **STRONG, **WEB),
        event_line("Purchase", "weak", T, value=9900, currency="USD", transactionId="t2",
                   **WEB),
    ]  # fmt: skip


def push(wh: tw.Warehouse, app: Any) -> None:
    with tempfile.TemporaryDirectory() as keys:
        config = wh.config
        pointed = config.pointed_at("http://emulator.test", target=EMULATOR_TARGET)
        wh.config = pointed.with_secrets(emulator_secrets(config, Path(keys)))
        report = wh.push(["meta"], as_of=AS_OF, transport=httpx.ASGITransport(app=app))
        wh.config = config
    assert report.ok, report


@pytest.fixture
def pushed(tmp_path: Path) -> Iterator[tuple[tw.Warehouse, Path]]:
    config = tmp_path / "trackstack.toml"
    config.write_text(CONFIG)
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        wh.ingest(write_lines(tmp_path / "events.ndjson", events()))
        wh.refresh_quality()
        wh.build_payloads(as_of=AS_OF)
        push(wh, create_app(AS_OF))
        yield wh, config


def test_the_log_carries_the_quality_at_send_time(pushed: tuple[tw.Warehouse, Path]) -> None:
    wh, _ = pushed
    logged = wh.sql(
        "select l.event_id, l.quality_score, l.quality_warnings, q.score, q.warnings "
        "from delivery_log l join event_quality q using (event_id) order by 1"
    ).to_dicts()
    assert [r["event_id"] for r in logged] == ["good", "weak"]
    for row in logged:
        assert row["quality_score"] == row["score"]
        assert set(row["warnings"]) <= set(row["quality_warnings"])
    assert logged[0]["quality_warnings"] == []
    assert "no_strong_match_keys" in logged[1]["quality_warnings"]


def test_delivered_with_warnings_can_be_filtered(
    pushed: tuple[tw.Warehouse, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    wh, config = pushed
    assert wh.deliveries("meta", outcome="delivered", with_warnings=True)["event_id"].to_list() == [
        "weak"
    ]
    assert len(wh.deliveries("meta", outcome="delivered")) == 2
    report = wh.delivery_report(target=EMULATOR_TARGET, with_warnings=True)
    assert report.df["event_id"].to_list() == ["weak"]
    counts = report.table("warnings_delivered")
    assert "no_strong_match_keys" in counts["warning"].to_list()
    assert "with_warnings" not in wh.delivery_report(target=EMULATOR_TARGET).tables
    db = wh.path
    wh.close()
    code = main(["--db", str(db), "--config", str(config), "report", "delivery",
                 "--target", EMULATOR_TARGET, "--with-warnings", "--format", "csv"])  # fmt: skip
    captured = capsys.readouterr()
    out = captured.out
    assert code == 0, captured.err
    assert "weak" in out and "good" not in out


def test_a_push_looks_up_only_the_rows_it_may_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept: list[str] = []
    monkeypatch.setattr(logwriter, "drop_snapshot", lambda conn, dest: kept.append(dest))
    config = tmp_path / "trackstack.toml"
    config.write_text(CONFIG)
    app = create_app(AS_OF)
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        wh.ingest(write_lines(tmp_path / "events.ndjson", events()))
        wh.refresh_quality()
        wh.build_payloads(as_of=AS_OF)
        push(wh, app)
        assert wh.sql("select count(*) as n from push_quality_meta")["n"][0] == 2
        push(wh, app)  # everything was delivered: the next push has no candidates
        assert wh.sql("select count(*) as n from push_quality_meta")["n"][0] == 0
    assert kept == ["meta", "meta"]


class _Recording:
    """A connection that records the statements run on it (and runs them)."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.calls: list[tuple[str, Any]] = []

    def execute(self, sql: str, params: Any = None) -> Any:
        self.calls.append((sql, params))
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def _nodes(plan: Any) -> Iterator[dict[str, Any]]:
    for node in plan if isinstance(plan, list) else [plan]:
        yield node
        yield from _nodes(node.get("children", []))


def test_the_lookup_reads_only_the_candidates_event_seq_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[_Recording] = []

    def recorded(conn: Any, destination: str, table: str, params: dict[str, object]) -> None:
        seen.append(_Recording(conn))
        quality_snapshot.add_to_snapshot(seen[-1], destination, table, params)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "add_to_snapshot", recorded)
    config = tmp_path / "trackstack.toml"
    config.write_text(CONFIG)
    late = [
        event_line("Purchase", f"late{i}", T, value=100, currency="USD", transactionId=f"t{i}",
                   **WEB)
        for i in (3, 4)
    ]  # fmt: skip
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        wh.ingest(write_lines(tmp_path / "events.ndjson", events()))
        wh.refresh_quality()
        wh.build_payloads(as_of=AS_OF)
        push(wh, create_app(AS_OF))
        wh.ingest(write_lines(tmp_path / "more.ndjson", late))
        wh.refresh_quality()
        wh.build_payloads(as_of=AS_OF)
        seen.clear()
        push(wh, create_app(AS_OF))  # only the new events are candidates
        lookups = [(s, p) for r in seen for s, p in r.calls if "event_quality" in s]
        assert len(lookups) == 1, lookups
        sql, params = lookups[0]
        lo, hi = wh.sql(
            "select min(event_seq), max(event_seq) from events where event_id like 'late%'"
        ).row(0)
        assert (params["seq_lo"], params["seq_hi"]) == (lo, hi) and lo < hi
        assert wh.sql("select count(*) as n from event_quality")["n"][0] == 4
        # The bounds are constants of the event_quality scan: row groups outside are skipped.
        plan = wh.conn.execute("explain (format json) " + sql.split(" ", 3)[3], params)
        nodes = _nodes(json.loads(plan.fetchall()[0][1]))
        scans = [n for n in nodes if str(n["extra_info"].get("Table")).endswith(".event_quality")]
        assert len(scans) == 1, plan
        filters = scans[0]["extra_info"].get("Filters", "")
        # (DuckDB leaves out the upper bound here: it is the column's maximum.)
        assert f"event_seq >= {lo}" in filters, filters
        logged = wh.deliveries("meta").filter(pl.col("event_id").str.starts_with("late"))
        assert logged.height == 2 and logged["quality_score"].is_not_null().all()
