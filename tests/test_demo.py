"""The README's first command, as a new user sees it on a terminal."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import trackstack_wh as tw
from tests.helpers import ROOT, run_in_terminal


def test_demo_runs_end_to_end_in_under_a_minute(demo_run: tuple[Path, str, float]) -> None:
    db, out, seconds = demo_run
    assert seconds < 60, f"demo took {seconds:.1f}s"
    for bar in ("ingest", "payloads", "push"):  # progress bars on the long steps
        assert re.search(rf"{bar}\s*:\s*100%\|", out), out
    assert "this run: 3 new file(s)" in out
    assert re.search(r"warehouse: 3 file\(s\), ([\d,]+) records = ([\d,]+) events \+ "
                     r"([\d,]+) quarantined \+ ([\d,]+) duplicates", out)  # fmt: skip
    assert "reconcile  everything accounted for" in out
    net = re.search(r"revenue    net \(after refunds and chargebacks\): (.+?);", out)
    assert net, out  # the samples' refunds take back purchases they contain: a real business
    amounts = [float(a.split()[1].replace(",", "")) for a in net.group(1).split(", ")]
    assert len(amounts) == 3 and min(amounts) > 0, net.group(1)
    assert re.search(r"funnel     Awareness \d+ -> Interest \d+ -> Acquisition \d+", out)
    report = re.search(r"HTML report: (\S+)", out)
    assert report and Path(report.group(1)) == db.with_name("warehouse_report.html")
    assert Path(report.group(1)).stat().st_size > 10_000
    with tw.connect(db, read_only=True) as wh:
        batches = wh.batches()
        assert (batches["rows_in"] == batches["rows_valid"] + batches["rows_quarantined"]
                + batches["rows_duplicate"]).all()  # fmt: skip
        delivered = wh.deliveries(outcome="delivered").height
    totals = {
        line.split()[0]: [int(x.replace(",", "")) for x in line.split()[1:]]
        for line in out.splitlines()
        if re.match(
            r"^(meta|google_ads|linkedin|tiktok|snapchat|reddit|hubspot|salesforce|posthog) ", line
        )
    }
    assert len(totals) == 9 and sum(v[0] for v in totals.values()) == delivered > 0


def test_running_the_demo_again_loads_and_sends_nothing_twice(
    demo_run: tuple[Path, str, float],
) -> None:
    db, _, _ = demo_run
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTACK_")}
    with tw.connect(db, read_only=True) as wh:
        attempts = wh.delivery_log().height
    code, out, _ = run_in_terminal(
        [sys.executable, "-m", "trackstack_wh.cli", "--db", str(db), "demo", "--no-report"],
        env=env, cwd=ROOT,
    )  # fmt: skip
    assert code == 0, out
    assert "this run: 0 new file(s), 0 records" in out
    assert "this run sent 0 rows" in out
    assert "HTML report" not in out
    with tw.connect(db, read_only=True) as wh:
        assert wh.delivery_log().height == attempts
