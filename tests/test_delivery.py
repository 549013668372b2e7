"""Delivery against the platform emulator: exactly once, under faults, bad rows, restarts."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest

import trackstack_wh as tw
from trackstack_lab.emulator import EmulatorProcess, dedup_identity
from trackstack_wh.config import load_config
from trackstack_wh.delivery.ratelimit import TokenBucket, backoff_delay
from trackstack_wh.delivery.responses import parse_response, retry_after_seconds
from trackstack_wh.payloads import PAYLOAD_TABLES

ROOT = Path(__file__).parent.parent
TOKEN = "tok-5ecret-value-xyz"
FAST = {"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "timeout_seconds": 1.0,
        "requests_per_second": 1000}  # fmt: skip
DESTINATIONS = sorted(PAYLOAD_TABLES)


@pytest.fixture
def env(
    source: tuple[Path, dt.datetime],
    emulator: EmulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[tw.Warehouse, EmulatorProcess, dt.datetime]]:
    """A fresh copy of the source warehouse pointed at a freshly reset emulator."""
    emulator.reset()
    emulator.set_clock(source[1])
    config = load_config(ROOT / "trackstack.toml")
    for dest in config.enabled():
        for key, name in dest.credential_envs().items():
            if key.endswith("_env"):
                monkeypatch.setenv(name, TOKEN)
    db = tmp_path / "wh.duckdb"
    shutil.copy(source[0], db)
    with tw.connect(db, config=at_endpoints(config, emulator.base_url)) as wh:
        yield wh, emulator, source[1]


def at_endpoints(config: Any, base_url: str) -> Any:
    """The config with every destination's ``base_url`` set to ``{base_url}/{name}``, as a
    user's trackstack.toml would: those are its live endpoints."""
    destinations = {
        name: dataclasses.replace(d, base_url=f"{base_url}/{name}")
        for name, d in config.destinations.items()
    }
    return dataclasses.replace(config, destinations=destinations)


def ready_counts(wh: tw.Warehouse) -> dict[str, int]:
    summary = wh.payload_summary().filter(status="ready")
    return dict(summary.group_by("destination").agg(pl.col("rows").sum()).iter_rows())


def delivered_counts(wh: tw.Warehouse, outcome: str = "delivered") -> dict[str, int]:
    frame = wh.deliveries(outcome=outcome)
    return dict(frame.group_by("destination").len().iter_rows())


def identities(wh: tw.Warehouse, dest: str, outcome: str | None = None) -> Counter[str]:
    """The platform's dedup identity of each ready row (with that delivery outcome)."""
    rows = wh.sql(
        f"select p.request_kind, p.payload::varchar as payload from {PAYLOAD_TABLES[dest]} p "
        "left join delivery_status s using (destination, request_kind, event_id) "
        "where p.status = 'ready' and ($o is null or s.outcome = $o)",
        o=outcome,
    )
    return Counter(
        record_key(dedup_identity(dest, k, orjson.loads(p))) for k, p in rows.iter_rows()
    )


UPSERT_KINDS = ("deal:", "contact:", "lead:", "opportunity:")


def record_key(identity: str) -> str:
    """A CRM upsert's identity without its content digest: one record, whatever state of
    it went out (a coalesced request carries the merged state of the record's rows)."""
    return identity.split("|", 1)[0] if identity.startswith(UPSERT_KINDS) else identity


def received(emu: EmulatorProcess, dest: str) -> dict[str, int]:
    """Times the emulator received each record (CRM upserts by record key)."""
    counts: Counter[str] = Counter()
    for identity, times in emu.records(dest).items():
        counts[record_key(identity)] += times
    return dict(counts)


def assert_exactly_once(
    wh: tw.Warehouse, emu: EmulatorProcess, dests: list[str] = DESTINATIONS, *, resent: bool = False
) -> None:
    """Every ready row delivered (a CRM record's earlier rows superseded by its latest),
    and the platform holds each of them once. Without ``resent`` (no timeouts or dropped
    answers) it also received each exactly once."""
    ready, delivered = ready_counts(wh), delivered_counts(wh)
    superseded = delivered_counts(wh, "superseded")
    for dest in dests:
        done = delivered.get(dest, 0) + superseded.get(dest, 0)
        assert done == ready[dest], (dest, delivered.get(dest), superseded.get(dest), ready[dest])
        expected, records = identities(wh, dest, "delivered"), received(emu, dest)
        assert set(expected) == set(records), dest
        assert emu.stats()[dest]["unique"] == len(expected), dest
        if not resent:
            assert dict(expected) == records, dest
    repeated = wh.sql(
        "select destination, request_kind, event_id, mode, attempt from delivery_log "
        "where attempt > 0 group by all having count(*) > 1"
    )
    assert repeated.is_empty(), repeated


def test_clean_push_delivers_every_ready_row_exactly_once(env: Any) -> None:
    wh, emu, clock = env
    report = wh.push(as_of=clock, delivery=FAST)
    assert report.ok, report
    assert_exactly_once(wh, emu)
    received = {d: s["received"] for d, s in emu.stats().items()}
    again = wh.push(as_of=clock, delivery=FAST)
    assert sum(d.requests for d in again.destinations) == 0
    assert sum(d.pending for d in again.destinations) == 0
    assert {d: s["received"] for d, s in emu.stats().items()} == received
    meta = wh.sql("select * from delivery_requests where destination = 'meta'")
    assert meta["platform_accepted"].sum() == ready_counts(wh)["meta"]
    assert meta["trace_id"].null_count() == 0
    assert wh.reconcile().ok


@pytest.mark.parametrize("fault", ["429", "503", "timeout", "drop", "throttle"])
def test_transient_faults_still_deliver_exactly_once(env: Any, fault: str) -> None:
    wh, emu, clock = env
    for dest in DESTINATIONS:
        emu.inject(dest, fault, times=2, retry_after="0", delay=1.5)
    report = wh.push(as_of=clock, delivery={**FAST, "batch_size": 100})
    assert report.ok, report
    assert_exactly_once(wh, emu, resent=fault in ("timeout", "drop"))
    retried = wh.sql(
        "select distinct destination from delivery_log where outcome = 'retry_scheduled'"
    )
    assert set(retried["destination"]) == set(DESTINATIONS)


def test_retry_after_pauses_the_destination(env: Any) -> None:
    wh, emu, clock = env
    emu.inject("linkedin", "429", times=1, retry_after="1")
    report = wh.push("linkedin", as_of=clock, delivery=FAST)
    assert report.ok and report["linkedin"].seconds >= 1.0
    assert_exactly_once(wh, emu, ["linkedin"])


def _corrupt_first_row(wh: tw.Warehouse, dest: str, offset: int = 0) -> str:
    """Give one ready row an identifier the platform refuses (not 64-hex)."""
    table = PAYLOAD_TABLES[dest]
    event_id, payload = wh.conn.execute(
        f"select event_id, payload::varchar from {table} where status = 'ready' "
        "and request_kind = 'event' order by event_id limit 1 offset $o",
        {"o": offset},
    ).fetchall()[0]
    element = orjson.loads(payload)
    bad = "NOT-A-HASH"
    if dest in ("meta", "snapchat"):
        element["user_data"]["em"] = [bad]
    elif dest == "tiktok":
        element["user"]["email"] = bad
    elif dest == "reddit":
        element["user"]["external_id"] = bad
    elif dest == "linkedin":
        element["user"]["userIds"] = [{"idType": "SHA256_EMAIL", "idValue": bad}]
    elif dest == "google_ads":
        element["userData"] = {"userIdentifiers": [{"emailAddress": bad}]}
    wh.conn.execute(
        f"update {table} set payload = $p where event_id = $e and request_kind = 'event'",
        {"p": orjson.dumps(element).decode(), "e": event_id},
    )
    return event_id


@pytest.mark.parametrize("dest", ["meta", "google_ads", "linkedin", "tiktok", "snapchat", "reddit"])
def test_one_invalid_row_rejects_only_that_row(env: Any, dest: str) -> None:
    wh, emu, clock = env
    bad = _corrupt_first_row(wh, dest)
    report = wh.push(dest, as_of=clock, delivery={**FAST, "batch_size": 8})
    assert report[dest].rejected == 1 and report[dest].failed == 0
    status = wh.deliveries(dest)
    assert status.filter(outcome="rejected")["event_id"].to_list() == [bad]
    assert status.filter(outcome="rejected")["error_class"].item() in (
        "bad_identifier",
        "permanent",
    )
    assert delivered_counts(wh)[dest] == ready_counts(wh)[dest] - 1
    assert identities(wh, dest, "delivered") == received(emu, dest)


def test_several_bad_rows_in_one_batch_are_all_isolated(env: Any) -> None:
    wh, emu, clock = env
    bad = {_corrupt_first_row(wh, "snapchat", offset) for offset in (0, 7, 300)}
    report = wh.push("snapchat", as_of=clock, delivery=FAST)
    assert report["snapchat"].rejected == 3 and report["snapchat"].requests <= 4, report
    assert set(wh.deliveries("snapchat", outcome="rejected")["event_id"]) == bad
    assert identities(wh, "snapchat", "delivered") == emu.records("snapchat")


def test_hubspot_partial_207_rejects_only_the_named_record(env: Any) -> None:
    wh, emu, clock = env
    events = wh.sql("select count(*) from crm_hubspot where status = 'ready' "
                    "and request_kind = 'custom_event'").item()  # fmt: skip
    emu.inject("hubspot", "slow", times=-(-events // 500), delay=0)
    emu.inject("hubspot", "reject", indices=[1])  # the first deal upsert
    report = wh.push("hubspot", as_of=clock, delivery=FAST)
    assert report["hubspot"].rejected == 1, report
    rejected = wh.deliveries("hubspot", outcome="rejected")
    assert rejected["request_kind"].to_list() == ["deal"]
    codes = wh.sql("select distinct http_status from delivery_requests where request_kind = 'deal'")
    assert 207 in codes["http_status"].to_list()


def test_dry_run_never_changes_what_a_push_sends(env: Any) -> None:
    wh, emu, clock = env
    emu.inject("reddit", "503", times=2)
    assert wh.push("reddit", as_of=clock, delivery={**FAST, "max_attempts": 2})["reddit"].failed
    wh.push("reddit", as_of=clock, dry_run=True, retry_failed=True)
    assert wh.push("reddit", as_of=clock, delivery=FAST)["reddit"].requests == 0
    assert set(wh.deliveries("reddit")["outcome"]) == {"failed"}


@pytest.mark.parametrize("dest", ["hubspot", "salesforce"])
def test_crm_row_refused_by_the_platform_is_rejected_alone(env: Any, dest: str) -> None:
    wh, emu, clock = env
    emu.inject(dest, "reject", indices=[2])
    report = wh.push(dest, as_of=clock, delivery=FAST)
    assert report[dest].rejected == 1 and report[dest].failed == 0, report
    done = delivered_counts(wh)[dest] + delivered_counts(wh, "superseded").get(dest, 0)
    assert done == ready_counts(wh)[dest] - 1
    assert identities(wh, dest, "delivered") == received(emu, dest)


def test_auth_failure_halts_one_destination_and_retry_failed_recovers(env: Any) -> None:
    wh, emu, clock = env
    emu.inject("tiktok", "auth", times=1)
    report = wh.push(as_of=clock, delivery={**FAST, "batch_size": 100, "concurrency": 1})
    tiktok = report["tiktok"]
    assert tiktok.halted and tiktok.halted.startswith("auth") and tiktok.delivered == 0
    assert tiktok.failed == 100 and tiktok.not_sent == tiktok.pending - 100
    for dest in DESTINATIONS:
        if dest != "tiktok":
            done = report[dest].delivered + report[dest].superseded
            assert done == ready_counts(wh)[dest], dest
    rec = wh.reconcile().totals().filter(destination="tiktok")
    assert rec["awaiting_retry"].item() == 100 and rec["never_attempted"].item() == tiktok.not_sent
    again = wh.retry_failed("tiktok", as_of=clock, delivery=FAST)
    assert again.ok
    assert_exactly_once(wh, emu)


def test_exhausted_retries_end_failed_until_retry_failed(env: Any) -> None:
    wh, emu, clock = env
    emu.inject("reddit", "503", times=3)
    report = wh.push("reddit", as_of=clock, delivery={**FAST, "max_attempts": 3})
    assert report["reddit"].failed == ready_counts(wh)["reddit"] and not report.ok
    last = wh.deliveries("reddit")
    assert set(last["outcome"]) == {"failed"} and set(last["attempts"]) == {3}
    assert wh.push("reddit", as_of=clock, delivery=FAST)["reddit"].requests == 0
    assert wh.retry_failed("reddit", as_of=clock, delivery=FAST).ok
    assert_exactly_once(wh, emu, ["reddit"])


def test_dry_run_sends_nothing_and_leaves_rows_pending(env: Any) -> None:
    wh, emu, clock = env
    report = wh.push(dry_run=True, as_of=clock)
    assert sum(d.dry_run_rows for d in report.destinations) == sum(ready_counts(wh).values())
    assert all(s["requests"] == 0 for s in emu.stats().values())
    assert wh.reconcile().totals()["delivered"].sum() == 0
    assert wh.push(as_of=clock, delivery=FAST).ok
    assert_exactly_once(wh, emu)


def test_rows_too_old_at_send_time_are_rejected_unsent(env: Any) -> None:
    wh, emu, clock = env
    report = wh.push("meta", as_of=clock + dt.timedelta(days=30), delivery=FAST)
    assert report["meta"].rejected == ready_counts(wh)["meta"] and report["meta"].requests == 0
    assert set(wh.deliveries("meta")["error_class"]) == {"too_old"}


def test_no_secret_reaches_the_warehouse(env: Any) -> None:
    wh, emu, clock = env
    emu.inject("meta", "auth")
    emu.inject("snapchat", "drop")
    wh.push(as_of=clock, delivery=FAST)
    for table in ("delivery_log", "delivery_requests"):
        text = wh.sql(f"select string_agg(t::varchar, '') as t from {table} t").item()
        assert TOKEN not in text


def test_reconcile_adds_up_and_drills_down(env: Any) -> None:
    wh, emu, clock = env
    before = wh.reconcile()
    assert not before.ok and all("never attempted" in p for p in before.problems)
    never = dict(before.totals().select("destination", "never_attempted").iter_rows())
    assert never == ready_counts(wh)
    wh.push(as_of=clock, delivery=FAST)
    after = wh.reconcile()
    assert after.ok and after.totals()["never_attempted"].sum() == 0
    skipped = after.rows("google_ads", "skipped", "original_conversion_not_found")
    assert skipped.height > 0 and set(skipped["bucket"]) == {"skipped"}


def test_token_bucket_paces_and_pauses() -> None:
    import asyncio
    import time

    async def run() -> float:
        bucket = TokenBucket(20, burst=1)
        started = time.monotonic()
        for _ in range(5):
            await bucket.acquire()
        bucket.pause(0.2)
        await bucket.acquire()
        return time.monotonic() - started

    assert asyncio.run(run()) >= 0.2 + 4 / 20 - 0.01


def test_backoff_grows_and_zero_retry_after_still_waits() -> None:
    assert 0.25 <= backoff_delay(1, base=0.5, cap=8) <= 0.5
    assert 2.0 <= backoff_delay(4, base=0.5, cap=8) <= 4.0
    assert backoff_delay(1, base=0.5, cap=8, retry_after=0) > 0
    assert backoff_delay(1, base=0.5, cap=8, retry_after=3) >= 3
    assert retry_after_seconds({"retry-after": "2"}) == 2
    assert retry_after_seconds({"retry-after-ms": "1500"}) == 1.5
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after": "Wed, 21 Oct 2015 07:28:00 -0000"}) == 0


def test_platform_messages_are_stored_without_emails_or_phone_numbers() -> None:
    text = "Email: invalid email address: grace.593@acme33.example, +1 415 555 0100"
    body = [{"success": False, "errors": [{"statusCode": "INVALID_EMAIL", "message": text}]}]
    verdict = parse_response("salesforce", "lead", 200, {}, orjson.dumps(body), ["{}"])
    message = verdict.row_failures[0].message
    assert "grace" not in message and "555" not in message and "<email>" in message


def test_google_partial_failure_maps_errors_to_rows() -> None:
    body = {
        "results": [{"conversionAction": "x"}, {}, {"conversionAction": "y"}],
        "partialFailureError": {"code": 3, "message": "x", "details": [{"errors": [{
            "errorCode": {"conversionUploadError": "EXPIRED_EVENT"}, "message": "too old",
            "location": {"fieldPathElements": [{"fieldName": "conversions", "index": 1}]}}]}]},
    }  # fmt: skip
    verdict = parse_response(
        "google_ads", "click_conversion", 200, {}, orjson.dumps(body), ["{}"] * 3
    )
    assert list(verdict.row_failures) == [1]
    assert verdict.row_failures[1].error_class == "too_old"


def test_html_error_page_is_retryable() -> None:
    verdict = parse_response("meta", "event", 502, {}, b"<html>Bad gateway</html>", ["{}"])
    assert verdict.request_failure is not None
    assert verdict.request_failure.error_class == "retryable"


def test_cli_push_uploads_refunds_and_churn_to_the_crms(
    source: tuple[Path, dt.datetime], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from trackstack_wh.cli import main

    db, clock = tmp_path / "crm.duckdb", source[1]
    shutil.copy(source[0], db)
    args = ["--db", str(db), "--config", str(ROOT / "trackstack.toml"), "push", "--emulator",
            "--destination", "hubspot", "--destination", "salesforce",
            "--as-of", clock.isoformat()]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    assert "push" in capsys.readouterr().out
    with tw.connect(db, config=ROOT / "trackstack.toml") as wh:
        delivered = wh.sql(
            "select s.destination, e.event_name, count(*) as n from delivery_status s "
            "join events e using (event_id) where s.outcome = 'delivered' group by all"
        )
        for dest, sent in (("hubspot", {"Churned"}), ("salesforce", set())):
            names = set(delivered.filter(destination=dest)["event_name"])
            assert {"Refund", "Purchase"} | sent <= names, (dest, names)
        # A Salesforce churn updates the Account by its company ID, which the samples'
        # churns do not carry (tests/test_crm_churn.py pushes churns that do).
        churned = wh.sql(
            "select distinct p.request_kind, p.skip_reason from crm_salesforce p "
            "join events e using (event_id) where e.event_name = 'Churned'"
        )
        assert churned.rows() == [("account", "missing_company_id")]
        assert set(delivered["destination"]) == {"hubspot", "salesforce"}
        assert set(wh.deliveries()["target"]) == {"emulator"}
        # The emulator's books are its own: every ready row is still to send live.
        live = wh.push(["hubspot", "salesforce"], as_of=clock, dry_run=True)
        assert live["hubspot"].pending == ready_counts(wh)["hubspot"]
    assert main(args) == 0
    assert "delivered         0" in capsys.readouterr().out


def test_test_and_validate_modes_are_passed_through_and_kept_apart(env: Any) -> None:
    wh, emu, clock = env
    dests = dict(wh.config.destinations)
    dests["meta"] = dataclasses.replace(dests["meta"], test_event_code="TEST123")
    dests["snapchat"] = dataclasses.replace(dests["snapchat"], validate_only=True)
    wh.config = dataclasses.replace(wh.config, destinations=dests)
    report = wh.push(["meta", "snapchat"], as_of=clock, delivery=FAST)
    assert report.ok and report["meta"].mode == "test" and report["snapchat"].mode == "validate"
    stats = emu.stats()
    assert stats["meta"]["test_events"] == ready_counts(wh)["meta"]
    assert stats["snapchat"]["unique"] == 0 and stats["snapchat"]["requests"] > 0
    assert set(wh.deliveries("meta")["mode"]) == {"test"}
    assert wh.reconcile(mode="live").totals().filter(destination="meta")["delivered"].item() == 0
    assert wh.reconcile(mode="test").totals().filter(destination="meta")["delivered"].item() > 0


def test_deliveries_logged_before_targets_existed_never_count_as_live(env: Any) -> None:
    wh, emu, clock = env
    assert wh.push(["tiktok", "hubspot"], as_of=clock, delivery=FAST).ok
    path = wh.path
    wh.conn.execute("drop view delivery_status")
    for table in ("delivery_log", "delivery_requests"):
        wh.conn.execute(f"alter table {table} drop column target")
    wh.conn.execute("alter table delivery_log drop column retry_at")
    wh.conn.execute("drop table delivery_cursors")  # nor push cursors
    wh.conn.execute("drop table delivery_backlog")
    wh.close()
    with tw.connect(path, config=wh.config) as old:  # an older file, migrated on open
        assert set(old.deliveries()["target"]) == {"unrecorded"}
        assert old.reconcile(target="unrecorded").totals().filter(destination="tiktok")[
            "delivered"].item() == ready_counts(old)["tiktok"]  # fmt: skip
        again = old.push(["tiktok", "hubspot"], as_of=clock, dry_run=True)
        assert again["tiktok"].pending == ready_counts(old)["tiktok"]


def test_a_crm_record_merges_its_rows_without_rejected_ones_and_due_retries_ignore_windows(
    wh: tw.Warehouse,
) -> None:
    from trackstack_wh.delivery.cursor import CURSOR_DDL
    from trackstack_wh.delivery.outbox import pending_sql

    rows = [("r1", "k", "2026-10-01 10:00+00", '{"a":1,"bad":"x"}'),
            ("r2", "k", "2026-10-02 10:00+00", '{"b":2}'),
            ("r3", "j", "2026-09-01 10:00+00", '{"c":3}')]  # fmt: skip
    wh.conn.execute("create table crm_probe (event_id varchar, dedup_key varchar, "
                    "request_kind varchar default 'deal', status varchar default 'ready', "
                    "event_time timestamptz, payload varchar, event_seq bigint default 0, "
                    "built_seq bigint default 0)")  # fmt: skip
    wh.conn.execute(CURSOR_DDL)
    wh.conn.executemany("insert into crm_probe (event_id, dedup_key, event_time, payload) "
                        "values (?, ?, ?::timestamptz, ?)", rows)  # fmt: skip
    params = {"destination": "hubspot", "kind": "deal", "mode": "live", "target": "live",
              "now_s": 2e9, "retry_failed": False, "since_s": None, "until_s": None,
              "event_names": None, "min_event_ms": None, "cursor": None}  # fmt: skip

    def pending(**changes: object) -> dict[str, tuple[object, object]]:
        rows = wh.conn.execute(pending_sql("crm_probe", upsert=True), {**params, **changes})
        return {e: (orjson.loads(p) if p else None, c) for e, p, _, _, _, c in rows.fetchall()}

    assert pending()["r2"] == ({"a": 1, "bad": "x", "b": 2}, None)
    assert pending()["r1"] == (None, "r2")  # superseded once r2 is delivered
    log = ("insert into delivery_log (attempt_id, run_id, destination, request_kind, event_id, "
           "mode, target, attempt, sent_at, outcome, retry_at) values (gen_random_uuid()::varchar, "
           "'x', 'hubspot', 'deal', $e, 'live', 'live', 1, now(), $o, $r)")  # fmt: skip
    wh.conn.execute(log, {"e": "r1", "o": "rejected", "r": None})
    after = pending()  # the rejected row never blocks its record
    assert after["r2"] == ({"b": 2}, None) and "r1" not in after
    window = {"since_s": dt.datetime(2026, 10, 1, tzinfo=dt.UTC).timestamp()}
    assert set(pending(**window)) == {"r2"}
    wh.conn.execute(log, {"e": "r3", "o": "failed", "r": dt.datetime(2026, 10, 5, tzinfo=dt.UTC)})
    assert set(pending(**window)) == {"r2", "r3"}  # a due retry is sent by any run
    assert set(pending(**window, now_s=dt.datetime(2026, 10, 4, tzinfo=dt.UTC).timestamp())) == {
        "r2"
    }


def test_credentials_stored_by_older_versions_are_masked_by_the_next_push(
    wh: tw.Warehouse,
) -> None:
    from trackstack_wh.delivery.masking import Masker
    from trackstack_wh.delivery.outbox import scrub_stored

    token = "EAAB-echoed/token+value"
    wh.conn.execute(
        "insert into delivery_log (attempt_id, run_id, destination, request_kind, event_id, "
        "mode, target, attempt, sent_at, outcome, error_message, trace_id) values "
        "('a', 'r', 'meta', 'event', 'e', 'live', 'live', 1, now(), 'failed', $m, $t)",
        {"m": f"Invalid OAuth access token - Cannot parse access token: {token}", "t": "T1"},
    )
    assert scrub_stored(wh.conn, Masker([token])) == 1
    stored = wh.deliveries()["error_message"].item()
    assert token not in stored and stored.endswith("Cannot parse access token: ***")
    assert scrub_stored(wh.conn, Masker([token])) == 0


def test_rows_still_open_after_a_bug_are_those_without_a_final_outcome(wh: tw.Warehouse) -> None:
    from trackstack_wh.delivery.outbox import Batch, still_open

    log = ("insert into delivery_log (attempt_id, run_id, destination, request_kind, event_id, "
           "mode, target, attempt, sent_at, outcome) values (gen_random_uuid()::varchar, 'x', "
           "'meta', 'event', $e, 'live', 'live', $a, now(), $o)")  # fmt: skip
    for event, attempt, outcome in [("a", 1, "delivered"), ("b", 1, "retry_scheduled"),
                                    ("c", 1, "failed"), ("c", 2, "retry_scheduled")]:  # fmt: skip
        wh.conn.execute(log, {"e": event, "a": attempt, "o": outcome})
    rows = Batch("event", ["a", "b", "c", "d"], ["{}"] * 4, [0] * 4)
    left = still_open(wh.conn, "meta", "live", "live", rows)
    assert left.event_ids == ["b", "c", "d"]
    assert left.attempts == [1, 2, 0] and left.failed_runs == [0, 1, 0]
    assert still_open(wh.conn, "meta", "live", "emulator", rows).event_ids == ["a", "b", "c", "d"]
