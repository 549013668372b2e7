"""Delivery against an independent receiver written from the platforms' documentation
(tests/receiver.py), configured as a user's live endpoints: what a real endpoint, proxy
or load balancer answers must never lose, double-count or misreport a conversion."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import polars as pl
import pytest

import trackstack_wh as tw
from tests.receiver import Receiver
from trackstack_wh.cli import main
from trackstack_wh.config import load_config
from trackstack_wh.payloads import PAYLOAD_TABLES

ROOT = Path(__file__).parent.parent
DESTINATIONS = sorted(PAYLOAD_TABLES)
TOKEN = 'live-"tok\\en/with+odd=chars-0123456789'
"""A credential with characters that JSON, URL and Base64 encode differently."""
FAST = {"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "timeout_seconds": 2.0,
        "requests_per_second": 1000}  # fmt: skip
ORDER_FIELD = "TrackStack_Order_Id__c"
HTML_503 = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


def receiver_config(receiver: Receiver, path: Path, extra: str = "") -> Path:
    """trackstack.toml with every destination's base_url at the receiver (its live
    endpoints, as a user pointing the config at their own would have them)."""
    text = (ROOT / "trackstack.toml").read_text()
    for name in DESTINATIONS:
        header = f"[destinations.{name}]\n"
        text = text.replace(header, f'{header}base_url = "{receiver.base_for(name)}"\n', 1)
    path.write_text(text + extra)
    return path


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for dest in load_config(ROOT / "trackstack.toml").enabled():
        for name in dest.secret_names():
            monkeypatch.setenv(name, TOKEN)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.fixture
def warehouse(source: tuple[Path, dt.datetime], tmp_path: Path) -> Path:
    db = tmp_path / "wh.duckdb"
    shutil.copy(source[0], db)
    return db


def ready_counts(wh: tw.Warehouse) -> dict[str, int]:
    summary = wh.payload_summary().filter(status="ready")
    return dict(summary.group_by("destination").agg(pl.col("rows").sum()).iter_rows())


def outcome_counts(wh: tw.Warehouse, target: str = "live") -> dict[tuple[str, str], int]:
    frame = wh.sql(
        "select destination, outcome, count(*) as n from delivery_status "
        "where target = $t and outcome <> 'dry_run' group by all",
        t=target,
    )
    return {(d, o): n for d, o, n in frame.iter_rows()}


def received_keys(receiver: Receiver, dest: str) -> Counter[tuple[str, object]]:
    """Times the receiver got each (request kind, dedup key) of a destination (a refund
    adjustment shares its order ID with the conversion it retracts)."""
    counted = [r for r in receiver.requests(dest) if r.written]
    assert all(r.written == len(r.keys) for r in counted)
    return Counter((r.kind or r.path, key) for r in counted for key in r.keys)


def assert_delivered_exactly_once(wh: tw.Warehouse, receiver: Receiver) -> None:
    """Every ready row delivered live (CRM rows superseded by their record's latest),
    none failed, and the receiver got each dedup key once."""
    ready, outcomes = ready_counts(wh), outcome_counts(wh)
    for dest in DESTINATIONS:
        delivered = outcomes.get((dest, "delivered"), 0)
        assert delivered + outcomes.get((dest, "superseded"), 0) == ready[dest], dest
        assert outcomes.get((dest, "failed"), 0) == 0, dest
        counts = received_keys(receiver, dest)
        assert len(counts) == delivered, (dest, len(counts), delivered)
        assert max(counts.values()) == 1, (dest, counts.most_common(3))


def test_an_emulator_push_never_blocks_a_live_push_and_reports_keep_them_apart(
    source: tuple[Path, dt.datetime], warehouse: Path, receiver: Receiver, tmp_path: Path,
    credentials: None,
) -> None:  # fmt: skip
    clock = source[1]
    config = receiver_config(receiver, tmp_path / "live.toml")
    with tw.connect(warehouse, config=config) as wh:
        demo = wh.push_to_emulator(as_of=clock, delivery=FAST)
        assert demo.ok and {d.target for d in demo.destinations} == {"emulator"}
        assert sum(d.delivered for d in demo.destinations) > 0
        assert not wh.reconcile().ok  # nothing reached the platforms yet
        live = wh.push(as_of=clock, delivery=FAST)
        assert live.ok, live
        assert {d.target for d in live.destinations} == {"live"}
        assert_delivered_exactly_once(wh, receiver)
        assert wh.reconcile().ok, wh.reconcile().problems
        assert wh.reconcile(target="emulator").ok
        by_target = wh.delivery_report().table("by_target")
        assert set(by_target["target"]) == {"live", "emulator"}
        delivered = dict(by_target.group_by("target").agg(pl.col("delivered").sum()).iter_rows())
        assert delivered["live"] == delivered["emulator"] > 0


def test_rate_limits_and_html_outages_from_a_proxy_still_deliver_exactly_once(
    source: tuple[Path, dt.datetime], warehouse: Path, receiver: Receiver, tmp_path: Path,
    credentials: None,
) -> None:  # fmt: skip
    receiver.every(5, 429, b'{"error": "rate limited"}', headers={"Retry-After": "0"})
    receiver.every(7, 503, HTML_503, "text/html")
    config = receiver_config(receiver, tmp_path / "live.toml")
    with tw.connect(warehouse, config=config) as wh:
        # About one request in three is refused, and concurrent requests share each
        # destination's count: a batch may meet several refusals in a row, so it gets
        # more attempts than the default (PostHog alone sends 120+ batches here).
        report = wh.push(as_of=source[1], delivery={**FAST, "batch_size": 50, "max_attempts": 12})
        assert report.ok, report
        assert sum(d.retries for d in report.destinations) > 0
        assert_delivered_exactly_once(wh, receiver)
        answered = wh.sql("select distinct http_status from delivery_requests")["http_status"]
        assert {429, 503} <= set(answered.to_list())
        assert wh.reconcile().ok


def test_a_destination_that_always_fails_makes_reconcile_exit_1_with_counts(
    source: tuple[Path, dt.datetime], warehouse: Path, receiver: Receiver, tmp_path: Path,
    credentials: None, capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    receiver.always(500, b'{"error": {"code": 2, "message": "Service temporarily unavailable"}}',
                    destination="meta")  # fmt: skip
    config = receiver_config(receiver, tmp_path / "live.toml")
    with tw.connect(warehouse, config=config) as wh:
        report = wh.push(as_of=source[1], delivery={**FAST, "max_attempts": 2})
        failed = report["meta"].failed
        assert failed == ready_counts(wh)["meta"] and not report.ok
    args = ["--db", str(warehouse), "--config", str(config), "reconcile"]
    assert main(args) == 1
    out = capsys.readouterr().out
    assert f"meta: ready rows not delivered: {failed:,} failed (a later run retries them)" in out
    assert main([*args, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert not result["ok"]
    meta = next(t for t in result["totals"] if t["destination"] == "meta")
    assert meta["awaiting_retry"] == failed and meta["delivered"] == 0


def test_failed_rows_are_retried_by_the_next_run_until_max_runs(
    source: tuple[Path, dt.datetime], warehouse: Path, receiver: Receiver, tmp_path: Path,
    credentials: None,
) -> None:  # fmt: skip
    receiver.always(503, HTML_503, "text/html", destination="reddit")
    config = receiver_config(receiver, tmp_path / "live.toml")
    settings = {**FAST, "max_attempts": 1, "max_runs": 2, "run_retry_base_seconds": 0.01}
    with tw.connect(warehouse, config=config) as wh:
        ready = ready_counts(wh)["reddit"]
        assert wh.push("reddit", as_of=source[1], delivery=settings)["reddit"].failed == ready
        time.sleep(0.05)
        second = wh.push("reddit", as_of=source[1], delivery=settings)["reddit"]
        assert second.pending == ready and second.failed == ready
        log = wh.sql("select retry_at from delivery_log where outcome = 'failed' "
                     "order by sent_at")["retry_at"]  # fmt: skip
        assert log.head(1).null_count() == 0 and log.tail(1).null_count() == 1
        totals = wh.reconcile().totals().filter(destination="reddit")
        assert totals["failed"].item() == ready  # retries exhausted: only --retry-failed now
        assert wh.push("reddit", as_of=source[1], delivery=settings)["reddit"].requests == 0
        receiver.clear_faults("reddit")
        assert wh.retry_failed("reddit", as_of=source[1], delivery=settings).ok
        assert len(receiver.unique("reddit")) == ready


def token_forms() -> list[str]:
    escaped = json.dumps(TOKEN)[1:-1]
    return [TOKEN, quote(TOKEN, safe=""), quote_plus(TOKEN), escaped,
            base64.b64encode(TOKEN.encode()).decode(),
            base64.b64encode(f"user:{TOKEN}".encode()).decode()]  # fmt: skip


def test_a_receiver_that_echoes_the_credential_leaves_no_copy_anywhere(
    source: tuple[Path, dt.datetime], warehouse: Path, receiver: Receiver, tmp_path: Path,
    credentials: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    receiver.echo_credential(401)
    receiver.echo_credential(400, destination="tiktok", as_text=True)
    receiver.echo_credential(400, destination="reddit", as_text=True)
    config = receiver_config(receiver, tmp_path / "live.toml")
    args = ["--db", str(warehouse), "--config", str(config)]
    assert main([*args, "push", "--as-of", source[1].isoformat()]) == 1
    main([*args, "push", "--json", "--retry-failed", "--as-of", source[1].isoformat()])
    main([*args, "reconcile"])
    main([*args, "report", "delivery", "--format", "json"])
    printed = capsys.readouterr()
    with tw.connect(warehouse, config=config) as wh:
        assert wh.deliveries()["error_message"].drop_nulls().len() > 0
        stored = [
            wh.sql(f"select coalesce(string_agg(t::varchar, ''), '') from {table} t").item()
            for table in ("delivery_log", "delivery_requests")
        ]
        stored.append(str(wh.deliveries().to_dicts()))
    echoed = [r.answer for d in DESTINATIONS for r in receiver.requests(d)]
    assert any(TOKEN.encode() in (a or b"") for a in echoed)  # the receiver did echo it
    for text in [printed.out, printed.err, caplog.text, *stored]:
        for form in token_forms():
            assert form not in text, form


def test_a_sunset_api_version_is_refused_before_sending_and_defaults_are_supported(
    source: tuple[Path, dt.datetime], warehouse: Path, receiver: Receiver, tmp_path: Path,
    credentials: None,
) -> None:  # fmt: skip
    receiver.refuse_versions("google_ads", "v22")
    config = receiver_config(receiver, tmp_path / "live.toml")
    with tw.connect(warehouse, config=config) as wh:
        report = wh.push("google_ads", as_of=source[1], delivery=FAST)
        assert report.ok, report
        kinds = {r.path.split(":")[-1] for r in receiver.requests("google_ads")}
        assert {"ingest", "uploadConversionAdjustments"} <= kinds
    sunset = receiver_config(receiver, tmp_path / "sunset.toml")
    text = sunset.read_text().replace(
        "[destinations.google_ads.conversion_actions]",
        '[destinations.google_ads.api_versions]\ngoogle_ads_api = "v22"\n\n'
        "[destinations.google_ads.conversion_actions]",
    )
    sunset.write_text(text)
    before = len(receiver.requests("google_ads"))
    with tw.connect(warehouse, config=sunset) as wh:
        halted = wh.push("google_ads", as_of=source[1], delivery=FAST, retry_failed=True)
        reason = halted["google_ads"].halted or ""
        assert reason.startswith("config: ") and "google_ads_api v22" in reason, reason
        assert "destinations.google_ads.api_versions.google_ads_api" in reason
    assert len(receiver.requests("google_ads")) == before


def test_crm_upserts_send_one_merged_state_per_record(
    source: tuple[Path, dt.datetime], warehouse: Path, receiver: Receiver, tmp_path: Path,
    credentials: None,
) -> None:  # fmt: skip
    config = receiver_config(receiver, tmp_path / "live.toml")
    with tw.connect(warehouse, config=config) as wh:
        keys = dict(wh.sql(
            "select request_kind, count(distinct dedup_key) from crm_salesforce "
            "where status = 'ready' group by all"
        ).iter_rows())  # fmt: skip
        report = wh.push(["salesforce", "hubspot"], as_of=source[1], delivery=FAST)
        assert report.ok and report["salesforce"].superseded > 0
        assert report["salesforce"].api_usage is not None
        for kind, n in keys.items():
            sent = [r for r in receiver.requests("salesforce") if r.method == "PATCH"
                    and kind.capitalize() in r.path]  # fmt: skip
            assert len(sent) == -(-n // 200), (kind, len(sent), n)
        # One record per key, carrying every field of the key's rows, the latest winning.
        sent = {
            record[ORDER_FIELD]: record
            for r in receiver.requests("salesforce")
            if r.method == "PATCH" and "Opportunity" in r.path
            for record in json.loads(r.body)["records"]
        }
        rows = wh.sql(
            "select dedup_key, list(payload::varchar order by event_time, event_id) as states "
            "from crm_salesforce where status = 'ready' and request_kind = 'opportunity' "
            "group by all"
        )
        assert len(sent) == rows.height
        merged_keys = 0
        for _, states in rows.iter_rows():
            expected: dict[str, object] = {}
            for state in states:
                expected |= json.loads(state)
            merged_keys += len(states) > 1
            assert sent[expected[ORDER_FIELD]] == expected
        assert merged_keys > 0
        totals = (
            wh.reconcile().totals().filter(pl.col("destination").is_in(["salesforce", "hubspot"]))
        )
        settled = (
            totals["delivered"] + totals["superseded"] + totals["skipped"] + totals["duplicate"]
        )
        assert (settled == totals["rows"]).all(), totals


def test_the_salesforce_push_stops_before_spending_the_org_allowance(
    source: tuple[Path, dt.datetime], warehouse: Path, tmp_path: Path, credentials: None,
) -> None:  # fmt: skip
    with Receiver(salesforce_usage=79_999, salesforce_daily_max=100_000) as receiver:
        config = receiver_config(receiver, tmp_path / "live.toml")
        with tw.connect(warehouse, config=config) as wh:
            report = wh.push("salesforce", as_of=source[1], delivery=FAST)["salesforce"]
            assert report.halted and "max_api_share" in report.halted, report
            assert report.api_usage and report.api_usage.startswith("80,000/100,000")
            assert [r.method for r in receiver.requests("salesforce")] == ["GET"]
            rec = wh.reconcile().totals().filter(destination="salesforce")
            unsent = rec["never_attempted"].item() + rec["superseded"].item()
            assert unsent == ready_counts(wh)["salesforce"]


def test_a_push_killed_mid_request_resends_only_the_same_dedup_keys(
    source: tuple[Path, dt.datetime], warehouse: Path, tmp_path: Path
) -> None:
    env = {**os.environ, **{n: TOKEN for d in load_config(ROOT / "trackstack.toml").enabled()
                            for n in d.secret_names()}}  # fmt: skip
    with Receiver() as receiver:
        receiver.delay(0.3)
        config = receiver_config(receiver, tmp_path / "live.toml",
                                 "\n[destinations.tiktok.delivery]\nbatch_size = 20\n")  # fmt: skip
        command = [sys.executable, "-m", "trackstack_wh.cli", "--db", str(warehouse), "--config",
                   str(config), "push", "--as-of", source[1].isoformat(), "--json"]  # fmt: skip
        first = subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.monotonic() + 30
        while len(receiver.received("tiktok")) < 100 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        assert 100 <= len(receiver.received("tiktok")) < ready_rows(warehouse, "tiktok")
        receiver.clear_faults()
        second = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, timeout=300)
        assert second.returncode == 0, second.stderr.decode()[-2000:]
        with tw.connect(warehouse, config=config) as wh:
            assert_delivered_exactly_once_after_dedup(wh, receiver)
        # Requests in flight at the kill reached the platform and were sent again.
        assert max(received_keys(receiver, "tiktok").values()) == 2


def ready_rows(db: Path, destination: str) -> int:
    with tw.connect(db, read_only=True) as wh:
        return ready_counts(wh)[destination]


def assert_delivered_exactly_once_after_dedup(wh: tw.Warehouse, receiver: Receiver) -> None:
    """Every ready row delivered; whatever was sent twice carried the same dedup key, so
    the platform counts each conversion once: the keys it holds are the dedup keys of the
    rows delivered (a CRM record whose state went out again is still one record)."""
    ready, outcomes = ready_counts(wh), outcome_counts(wh)
    for dest in DESTINATIONS:
        delivered = outcomes.get((dest, "delivered"), 0)
        assert delivered + outcomes.get((dest, "superseded"), 0) == ready[dest], dest
        keys = wh.sql(
            f"select count(distinct (p.request_kind, p.dedup_key)) from {PAYLOAD_TABLES[dest]} p "
            "join delivery_status s using (destination, request_kind, event_id) "
            "where s.target = 'live' and s.outcome = 'delivered'"
        ).item()
        assert len(received_keys(receiver, dest)) == keys, dest
    assert wh.reconcile().ok
