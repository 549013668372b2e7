"""Quality and delivery reports, the ``report`` command's formats, and the static HTML
report rendered in a real (headless) Chromium."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import polars as pl
import pytest

import trackstack_wh as tw
from trackstack_wh.cli import main
from trackstack_wh.reports.charts import to_svg


@pytest.fixture(scope="module")
def demo_db(demo_run: tuple[Path, str, float]) -> Path:
    return demo_run[0]


def test_quality_report_tables_agree_with_the_scores(demo_db: Path) -> None:
    with tw.connect(demo_db, read_only=True) as wh:
        report = wh.quality_report()
        events = wh.sql("select count(*) as n from event_quality").item()
        ads_events = wh.sql(
            "select count(*) as n from event_quality join canonical_events using (event_name) "
            "where routes_ads"
        ).item()
    scores = report.df
    assert scores["events"].sum() == events
    assert set(scores["score"]) <= set(range(11))
    by_event = report.table("by_event")
    assert by_event["events"].sum() == events
    for column in (c for c in by_event.columns if c.startswith("missing_")):
        assert by_event[column].is_between(0, 1).all()
    keys = report.table("match_keys")
    assert set(keys["destination"]) == {"meta", "google_ads", "linkedin", "tiktok", "snapchat",
                                        "reddit"}  # fmt: skip
    per_platform = keys.group_by("destination").agg(pl.col("events").sum())
    assert (per_platform["events"] == ads_events).all()
    assert report.chart_names() == ["scores", "match_keys"]
    assert "<svg" in report._repr_html_()


def test_delivery_report_matches_reconciliation_and_the_log(demo_db: Path) -> None:
    with tw.connect(demo_db, read_only=True) as wh:
        report = wh.delivery_report(target="emulator")  # the demo pushes to the emulator
        totals = wh.reconcile(target="emulator").totals()
        delivered = wh.deliveries(outcome="delivered").group_by("destination").len()
        assert set(wh.deliveries()["target"]) == {"emulator"}
        live = wh.delivery_report()
    assert live.table("totals")["delivered"].sum() == 0 and live.notes != report.notes
    mine = report.table("totals")
    assert mine.select("destination", "delivered", "skipped").equals(
        totals.select("destination", "delivered", "skipped")
    )
    by_day = report.df.group_by("destination").agg(pl.col("delivered").sum()).sort("destination")
    assert dict(by_day.iter_rows()) == dict(delivered.iter_rows())
    assert (mine["success_rate"] == 1.0).all()
    reasons = report.table("reasons")
    assert {"destination", "outcome", "reason", "rows"} <= set(reasons.columns)
    meta_too_old = reasons.filter(destination="meta", reason="too_old")["rows"].item()
    meta_skipped = reasons.filter(destination="meta", outcome="skipped")["rows"].sum()
    assert meta_skipped == mine.filter(destination="meta")["skipped"].item()
    assert meta_too_old > meta_skipped * 0.9  # the samples are mostly too old for Meta
    over_time = report.table("reasons_by_day")
    assert over_time.filter(destination="meta", reason="too_old")["rows"].sum() == meta_too_old
    assert over_time["day"].n_unique() > 1
    assert report.notes == ["Reconciliation: every routed event is accounted for."]
    # Freshness: every built destination, fresh (the demo pushed right after ingest), and
    # each row with a delivered answer (a CRM row carried by a later one counts) timed.
    fresh = report.table("freshness")
    assert fresh["destination"].to_list() == mine["destination"].to_list()
    carried = mine["delivered"] + mine["superseded"]
    assert fresh["delivered"].to_list() == carried.to_list()
    assert (fresh["status"] == "ok").all() and (fresh["pending"] == 0).all()
    assert (fresh["lag_to_delivery_p95_s"] < 3600).all()
    assert (fresh["event_to_delivery_max_s"] >= fresh["lag_to_delivery_max_s"]).all()
    assert (fresh["target"] == "emulator").all()
    assert "p50 / p95 / max" in report.to_html()


def test_report_command_formats(demo_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tw.connect(demo_db, read_only=True) as wh:
        funnel = wh.funnel("week")
    assert main(["--db", str(demo_db), "report", "funnel", "--format", "csv"]) == 0
    csv = pl.read_csv(io.StringIO(capsys.readouterr().out), try_parse_dates=True)
    assert csv.equals(funnel.df)
    assert main(["--db", str(demo_db), "report", "funnel", "--format", "csv",
                 "--table", "revenue"]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("period,currency,purchases,")
    assert main(["--db", str(demo_db), "report", "delivery", "--format", "json",
                 "--target", "emulator"]) == 0  # fmt: skip
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["tables"]) == {"by_day", "totals", "freshness", "reasons", "reasons_by_day",
                                  "by_target"}  # fmt: skip
    assert all(r["status"] == "ok" for r in doc["tables"]["freshness"])
    assert sum(r["delivered"] for r in doc["tables"]["totals"]) > 0
    assert main(["--db", str(demo_db), "report", "quality"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Event quality") and "by_event:" in text
    assert main(["--db", str(demo_db), "report", "funnel", "--by", "plan", "--period",
                 "month", "--format", "json"]) == 0  # fmt: skip
    assert "plan" in json.loads(capsys.readouterr().out)["tables"]["stages"][0]
    assert main(["--db", str(demo_db), "report", "funnel", "--table", "nope"]) == 2
    assert "no table 'nope'" in capsys.readouterr().err
    assert main(["--db", str(demo_db), "report"]) == 2


def test_report_on_a_missing_warehouse_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--db", str(tmp_path / "none.duckdb"), "report", "funnel"]) == 2
    assert "no warehouse at" in capsys.readouterr().err
    with tw.connect(tmp_path / "fresh.duckdb"):
        pass  # tables, but nothing scored yet
    assert main(["--db", str(tmp_path / "fresh.duckdb"), "report", "quality"]) == 2
    assert "no quality scores yet" in capsys.readouterr().err


def test_charts_render_offline_to_svg(demo_db: Path) -> None:
    with tw.connect(demo_db, read_only=True) as wh:
        funnel = wh.funnel("week", by="channel")
    assert funnel.chart_names() == ["stages", "trend", "revenue", "cohorts"]
    for name in funnel.chart_names():
        svg = to_svg(funnel.chart(name))
        assert svg.startswith("<svg") and "<text" in svg, name
    with pytest.raises(KeyError, match="no chart 'pie'"):
        funnel.chart("pie")


def _chromium() -> str | None:
    return next(
        (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
         if shutil.which(n)),
        None,
    )  # fmt: skip


def test_html_report_renders_its_charts_in_headless_chromium(demo_db: Path, tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("no Chromium: .ci/run installs Debian's chromium package")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    page = tmp_path / "report.html"
    assert main(["--db", str(demo_db), "report", "--html", str(page)]) == 0
    source = page.read_text()
    assert "<script" not in source and not re.search(r"(src|href)=['\"]?https?:", source)
    profile = f"--user-data-dir={tmp_path / 'profile'}"
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--disable-background-networking", "--no-first-run", "--hide-scrollbars",
             profile, "--enable-logging=stderr", "--v=0"]  # fmt: skip
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert dom.returncode == 0, dom.stderr[-2000:]
    figures = re.findall(r"<figure class=\"chart\" data-chart=\"([a-z_]+)\"><svg", dom.stdout)
    assert figures == ["stages", "trend", "revenue", "cohorts", "funnel", "time_to_convert",
                       "delivery", "scores", "match_keys", "outcomes", "reasons"]  # fmt: skip
    panel = re.search(r"<h2>Conversion funnel: Awareness -&gt; Interest.*?</section>", dom.stdout,
                      re.S)  # fmt: skip
    assert panel and "<h3>delivery</h3>" in panel[0] and "key_coverage" in panel[0]
    assert "<h3>freshness</h3>" in dom.stdout and "pipeline lag → delivery" in dom.stdout
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console  # no script errors, no blocked requests
    shot = tmp_path / "report.png"
    run = subprocess.run([*flags, "--window-size=1200,3000", f"--screenshot={shot}",
                          page.as_uri()], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0 and shot.stat().st_size > 50_000, run.stderr[-2000:]
