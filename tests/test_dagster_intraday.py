"""Intraday delivery in Dagster: ``intraday_job`` (ingest, quality and routing, then
``intraday_delivery``) run twice with new events between sends only the new rows, to a
platform emulator on loopback; ``intraday_sensor`` starts it when due, one run at a time,
with its settings read at tick time."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx
import pytest
from dagster._core.test_utils import create_run_for_test

import trackstack_wh as tw
from dagster_defs.definitions import defs
from dagster_defs.defs.capi.assets import INTRADAY_TAG
from dagster_defs.defs.intraday.assets import CHECK
from dagster_defs.defs.intraday.checks import CREDENTIALS, FRESHNESS
from dagster_defs.defs.intraday.sensors import intraday_sensor
from dagster_defs.lib.resources import IntradayResource, PlatformsResource
from tests.dagster_support import CLOCK, CONFIG, intraday_job_def, resources
from tests.test_run_command import GOOGLE_ADS_UNREACHABLE, write_events, write_segment
from trackstack_lab.emulator import EmulatorProcess
from trackstack_wh.payloads import PAYLOAD_TABLES


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(clock=CLOCK) as emu:
        yield emu


def delivery_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dg.MetadataValue]:
    [event] = [
        e for e in result.get_asset_materialization_events()
        if e.asset_key == dg.AssetKey("intraday_delivery")
    ]  # fmt: skip
    return event.materialization.metadata


def delivered_events(db: Path, run_id: str) -> set[str]:
    """The events a push run delivered (PostHog's person and group rows left out)."""
    with tw.connect(db, read_only=True, config=CONFIG) as wh:
        return set(
            wh.sql(
                "select distinct event_id from delivery_log where run_id = $r "
                "and outcome = 'delivered' and request_kind <> 'identify'",
                r=run_id,
            )["event_id"]
        )


def profile_rows(db: Path, run_id: str) -> int:
    """PostHog person and group rows a push run delivered."""
    with tw.connect(db, read_only=True, config=CONFIG) as wh:
        return int(
            wh.sql(
                "select count(*) from delivery_log where run_id = $r "
                "and outcome = 'delivered' and request_kind = 'identify'",
                r=run_id,
            ).item()
        )


def test_intraday_job_twice_sends_only_the_new_rows(
    tmp_path: Path, emulator: EmulatorProcess
) -> None:
    emulator.reset()
    emulator.set_clock(CLOCK)
    res = resources(tmp_path, emulator.base_url)
    db = tmp_path / "wh.duckdb"
    job = intraday_job_def(res)
    first_ids = write_events(tmp_path / "inbox" / "a.ndjson", "a")
    loaded = defs()
    with dg.instance_for_test() as instance:

        def tick(cursor: object = None) -> dg.EvaluateAutomationConditionsResult:
            return dg.evaluate_automation_conditions(
                defs=loaded,
                instance=instance,
                asset_selection=dg.AssetSelection.all(),
                cursor=cursor,  # type: ignore[arg-type]
            )

        first = job.execute_in_process(instance=instance)
        assert first.success
        assert first.dagster_run.tags[INTRADAY_TAG] == "true"
        meta = delivery_metadata(first)
        sent_first = {d: s["received"] for d, s in emulator.stats().items()}
        assert meta["target"].value == emulator.base_url
        assert meta["halted"].value == 0 and meta["failed"].value == 0
        assert meta["built"].value == meta["delivered"].value == sum(sent_first.values()) > 0
        assert delivered_events(db, meta["push_run_id"].value) == first_ids
        checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
        assert all(checks.values()) and {CHECK, CREDENTIALS, FRESHNESS} <= set(checks)

        # Today's payload partitions are missing: the automation requests them once (as
        # each day at midnight), then not again.
        settled = tick(tick().cursor)
        assert settled.total_requested == 0

        # New events arrive between the runs: an inbox file and a closed sink segment.
        new_ids = write_events(tmp_path / "inbox" / "b.ndjson", "b")
        new_ids |= write_segment(tmp_path / "landing", "c")
        second = job.execute_in_process(instance=instance)
        assert second.success
        meta2 = delivery_metadata(second)
        stats = emulator.stats()
        sent_second = {d: s["received"] - sent_first.get(d, 0) for d, s in stats.items()}
        assert delivered_events(db, meta2["push_run_id"].value) == new_ids
        profiles = profile_rows(db, meta["push_run_id"].value)
        assert (
            meta2["delivered"].value
            == sum(sent_second.values())
            == 2 * (sum(sent_first.values()) - profiles)
        )  # two new batches shaped like the first: twice its rows, nothing else (but
        # PostHog's group of their one company, which went out with the first)
        assert all(s["duplicates"] == 0 for s in stats.values()), stats
        assert {d for d, n in sent_second.items() if n} == set(PAYLOAD_TABLES)

        # Intraday runs built the payloads themselves: no payload partition run after
        # them; an update from elsewhere (an ingest_job run) still starts one.
        after = tick(settled.cursor)
        assert after.total_requested == 0
        instance.report_runless_asset_event(dg.AssetMaterialization("event_routes"))
        elsewhere = tick(after.cursor)
        assert elsewhere.total_requested == len(PAYLOAD_TABLES)


def test_a_halted_destination_fails_the_checks_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The platform refuses the credentials: the run succeeds (the other destinations are
    not held up), the destination's rows stay pending, the sending check fails (ERROR),
    the credential check (tried before the push) and the freshness check warn: its ready
    rows wait longer than its (here tiny) limit."""
    monkeypatch.setenv("RUN_TEST_UNSET_TOKEN", "token-4f9a2c")
    monkeypatch.setenv("RUN_TEST_UNSET_DEVELOPER_TOKEN", "developer-77d1e0")
    config = tmp_path / "google.toml"
    config.write_text(GOOGLE_ADS_UNREACHABLE + "\n[freshness.destinations]\ngoogle_ads = 0.001\n")
    error = {"error": {"code": 401, "message": "invalid credentials", "status": "UNAUTHENTICATED"}}

    class RefusingPlatforms(PlatformsResource):
        def transport(self) -> httpx.AsyncBaseTransport | None:
            return httpx.MockTransport(lambda request: httpx.Response(401, json=error))

    res = {
        **resources(tmp_path, "live", config=config),
        "platforms": RefusingPlatforms(target="live"),
    }
    write_events(tmp_path / "inbox" / "a.ndjson", "a")
    result = intraday_job_def(res).execute_in_process()
    assert result.success
    meta = delivery_metadata(result)
    assert meta["halted"].value == 1 and meta["delivered"].value == 0
    assert meta["halted_reasons"].value["google_ads"].startswith("auth")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not checks[CHECK].passed and checks[CHECK].severity == dg.AssetCheckSeverity.ERROR
    tried = checks[CREDENTIALS]
    assert not tried.passed and tried.severity == dg.AssetCheckSeverity.WARN
    assert tried.metadata["failed"].value["google_ads"].startswith("invalid:")
    stale = checks[FRESHNESS]
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.WARN
    explanation = stale.metadata["stale"].value["google_ads"]
    assert "oldest ready row waiting" in explanation and "over the" in explanation
    recorded = repr(result.all_events)
    assert "token-4f9a2c" not in recorded and "developer-77d1e0" not in recorded


def evaluate(
    instance: dg.DagsterInstance,
    cursor: str | None = None,
    *,
    target: str | None = "emulator",
    intraday: IntradayResource | None = None,
) -> dg.SensorResult:
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={
            "intraday": intraday or IntradayResource(),
            "platforms": PlatformsResource(target=target),
        },
    )
    result = intraday_sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def skipped(result: dg.SensorResult) -> str:
    """Why the tick requested nothing ("" when it requested a run)."""
    assert not result.run_requests
    return result.skip_reason.skip_message or "" if result.skip_reason else ""


def requested_at(seconds_ago: float) -> str:
    return json.dumps({"requested_at": time.time() - seconds_ago})


def test_intraday_sensor_requests_a_run_when_due_and_skips_when_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("TRACKSTACK_PLATFORMS", "TRACKSTACK_INTRADAY_MINUTES", "TRACKSTACK_INTRADAY_LIVE"):
        monkeypatch.delenv(name, raising=False)
    with dg.instance_for_test() as instance:
        first = evaluate(instance)
        [request] = first.run_requests or []
        assert request.tags["trackstack/trigger"] == "intraday"
        assert json.loads(first.cursor or "{}")["requested_at"] == pytest.approx(time.time(), abs=5)

        # The default interval is 5 minutes: a minute after a run, none; 5 minutes after, one.
        early = skipped(evaluate(instance, requested_at(60)))
        assert early.startswith("next intraday run in") and early.endswith("(every 5 min)")
        assert evaluate(instance, requested_at(301)).run_requests

        # The interval is read when the sensor ticks: the resource field, else the variable.
        assert evaluate(instance, requested_at(60), intraday=IntradayResource(
            interval_minutes=0.5)).run_requests  # fmt: skip
        monkeypatch.setenv("TRACKSTACK_INTRADAY_MINUTES", "10")
        assert not evaluate(instance, requested_at(400)).run_requests
        assert evaluate(instance, requested_at(601)).run_requests
        monkeypatch.setenv("TRACKSTACK_INTRADAY_MINUTES", "soon")
        with pytest.raises(ValueError, match="TRACKSTACK_INTRADAY_MINUTES"):
            evaluate(instance, requested_at(601))
        monkeypatch.delenv("TRACKSTACK_INTRADAY_MINUTES")

        # Due, but the previous intraday run has not finished: wait for it.
        create_run_for_test(instance, job_name="intraday_job", status=dg.DagsterRunStatus.STARTED)
        assert "has not finished" in skipped(evaluate(instance, requested_at(900)))


def test_intraday_sensor_starts_runs_on_its_own_only_for_the_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On by default: with no target it says how to choose one; pushing to the live
    platforms (or a URL) unattended needs $TRACKSTACK_INTRADAY_LIVE=1 (or the field)."""
    for name in ("TRACKSTACK_PLATFORMS", "TRACKSTACK_INTRADAY_LIVE"):
        monkeypatch.delenv(name, raising=False)
    assert intraday_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    with dg.instance_for_test() as instance:
        assert "TRACKSTACK_PLATFORMS" in skipped(evaluate(instance, target=None))
        for target in ("live", "http://127.0.0.1:9"):
            assert "TRACKSTACK_INTRADAY_LIVE=1" in skipped(evaluate(instance, target=target))
        assert evaluate(instance, target="live", intraday=IntradayResource(
            unattended_live=True)).run_requests  # fmt: skip
        monkeypatch.setenv("TRACKSTACK_INTRADAY_LIVE", "1")
        assert evaluate(instance, target="live").run_requests
        assert "is not valid" in skipped(evaluate(instance, target="carrier-pigeon"))
