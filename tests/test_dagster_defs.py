"""The code location loads (with no environment, with a broken trackstack.toml), names
what the README promises, resolves settings and credentials only when a step runs, and
lets payloads follow ingest through its automation condition."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from dagster_defs.definitions import defs
from dagster_defs.defs.automation import AUTOMATION_SENSOR
from dagster_defs.defs.partitions import DAILY, FIRST_DAY
from dagster_defs.lib.resources import (
    CredentialsResource,
    FoldersResource,
    PlatformsResource,
    WorkspaceResource,
)
from tests.dagster_support import SAMPLES, resources
from trackstack_wh.config import DESTINATIONS, load_config
from trackstack_wh.payloads import PAYLOAD_TABLES

ROOT = Path(__file__).parent.parent
BROKEN_TOML = "[workspace\nvalue_unit = = 'minor'\n"


def bare_env(**extra: str) -> dict[str, str]:
    """An environment with nothing of the project's in it."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **extra}


def test_definitions_load_with_every_stage() -> None:
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    graph = loaded.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    expected = {
        "landed_batches", "events", "quarantine", "event_quality", "event_routes",
        "delivery_log", "funnel_daily", "quality_daily", "reconciliation_daily",
        "parquet_export", "html_report", "intraday_delivery", "platform_diagnostics",
        *PAYLOAD_TABLES.values(), *(f"delivery_{d}" for d in DESTINATIONS),
    }  # fmt: skip
    assert keys == expected
    for job in ("ingest_job", "payloads_job", "daily_job", "reconciliation_job", "html_report_job",
                "crm_refund_churn_upload", "intraday_job",
                *(f"push_{d}_job" for d in DESTINATIONS)):  # fmt: skip
        assert loaded.resolve_job_def(job).name == job
    schedules = {s.name for s in loaded.schedules or []}
    assert {"ingest_schedule", "reconciliation_schedule", "crm_refund_churn_schedule",
            "html_report_schedule"} <= schedules  # fmt: skip
    assert {f"push_{d}_job_schedule" for d in DESTINATIONS} <= schedules
    assert "payloads_schedule" not in schedules  # payloads follow ingest instead
    sensors = {s.name: s for s in loaded.sensors or []}
    assert set(sensors) == {"inbox_sensor", "landing_sensor", "intraday_sensor", AUTOMATION_SENSOR}
    running = {n for n, s in sensors.items() if s.default_status == dg.DefaultSensorStatus.RUNNING}
    assert running == {AUTOMATION_SENSOR, "intraday_sensor"}
    # The intraday chain is one job: ingest, quality and routing, then build and push.
    intraday = loaded.resolve_job_def("intraday_job")
    assert {k.to_user_string() for k in intraday.asset_layer.selected_asset_keys} == {
        "landed_batches", "events", "quarantine", "event_quality", "event_routes",
        "intraday_delivery",
    }  # fmt: skip
    assert intraday.tags["trackstack/intraday"] == "true"
    checks = {f"{k.asset_key.to_user_string()}:{k.name}" for k in graph.asset_check_keys}
    assert {"events:schema", "landed_batches:accounting_adds_up", "quarantine:quarantine_rate",
            "reconciliation_daily:nothing_unaccounted", "capi_meta:conforms",
            "delivery_meta:success_rate", "html_report:setup_doctor"} <= checks  # fmt: skip
    # The fan-ins depend on every destination's assets (lineage), and payloads follow ingest.
    parents = {
        name: {k.to_user_string() for k in graph.get(dg.AssetKey(name)).parent_keys}
        for name in ("delivery_log", "parquet_export")
    }
    assert parents["delivery_log"] == {f"delivery_{d}" for d in DESTINATIONS}
    assert parents["parquet_export"] == {"events", "event_quality", *PAYLOAD_TABLES.values()}
    for table in PAYLOAD_TABLES.values():
        assert graph.get(dg.AssetKey(table)).automation_condition is not None
    assert DAILY.get_first_partition_key() == FIRST_DAY == "2026-09-01"


LOAD_PROBE = textwrap.dedent(
    """
    import json, os, sys
    read, opened = set(), set()
    get, contains = os._Environ.get, os._Environ.__contains__
    def recorded_get(self, key, default=None):
        read.add(key)
        return get(self, key, default)
    def recorded_contains(self, key):
        read.add(key)
        return contains(self, key)
    os._Environ.get, os._Environ.__contains__ = recorded_get, recorded_contains
    def audit(event, args):
        if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
            opened.add(os.fsdecode(args[0]))
    sys.addaudithook(audit)
    import dagster as dg
    from dagster_defs.definitions import defs
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    loaded.resolve_asset_graph()
    print(json.dumps({
        "read": sorted(k for k in read if str(k).startswith("TRACKSTACK")),
        "configs": sorted(p for p in opened if p.endswith(("trackstack.toml", "broken.toml"))),
    }))
    """
)


@pytest.mark.parametrize("broken", [False, True], ids=["empty-environment", "broken-config"])
def test_loading_reads_no_environment_and_parses_no_file(tmp_path: Path, broken: bool) -> None:
    """Building the definitions (in a fresh interpreter) reads no TRACKSTACK_* variable
    and opens no trackstack.toml, so neither can break loading."""
    extra = {}
    if broken:
        config = tmp_path / "broken.toml"
        config.write_text(BROKEN_TOML)
        extra = {"TRACKSTACK_CONFIG": str(config), "TRACKSTACK_DB": str(tmp_path / "x.duckdb")}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_PROBE],
        cwd=ROOT, env=bare_env(**extra), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe == {"read": [], "configs": []}


def test_dg_check_defs_loads_without_environment_and_with_a_broken_config(
    tmp_path: Path,
) -> None:
    config = tmp_path / "broken.toml"
    config.write_text(BROKEN_TOML)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dg"), "check", "defs"],
        cwd=ROOT, env=bare_env(TRACKSTACK_CONFIG=str(config)), capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All definitions loaded successfully" in done.stdout + done.stderr


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, tuple[str, str]]:
    """Failed step -> (exception class, message)."""
    out = {}
    for event in result.all_events:
        if event.is_step_failure and (error := event.step_failure_data.error):
            out[event.step_key or ""] = (error.cls_name or "", error.message)
    return out


def test_a_broken_config_fails_the_steps_that_need_it_with_its_message(tmp_path: Path) -> None:
    from dagster_defs.defs.ingest.assets import ingest
    from dagster_defs.defs.warehouse.assets import event_routes

    config = tmp_path / "broken.toml"
    config.write_text(BROKEN_TOML)
    with pytest.raises(dg.Failure) as failure:
        WorkspaceResource(config_path=str(config)).load()
    message = failure.value.description or ""
    assert message.startswith(f"{config}: not valid TOML")

    res = resources(tmp_path, "emulator", config=config)
    result = dg.materialize([ingest, event_routes], resources=res, raise_on_error=False)
    assert not result.success
    failures = step_failures(result)
    assert set(failures) == {"ingest"}  # event_routes did not run after it
    assert failures["ingest"][0] == "Failure" and message in failures["ingest"][1]
    assert not (tmp_path / "wh.duckdb").exists()  # failed before opening anything


def test_settings_resolve_when_a_step_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TRACKSTACK_PLATFORMS", "TRACKSTACK_INBOX", "TRACKSTACK_CLOCK"):
        monkeypatch.delenv(name, raising=False)
    loaded = defs()
    platforms, folders, workspace = (
        loaded.resources[k] for k in ("platforms", "folders", "workspace")
    )
    assert platforms.target is None and folders.inbox is None and workspace.clock is None
    assert platforms.booked_as() == "live" and str(folders.inbox_path()) == "data/inbox"
    monkeypatch.setenv("TRACKSTACK_PLATFORMS", "emulator")
    monkeypatch.setenv("TRACKSTACK_INBOX", "/srv/inbox")
    monkeypatch.setenv("TRACKSTACK_CLOCK", "2026-10-22T12:00:00")
    assert platforms.booked_as() == "emulator"
    assert str(folders.inbox_path()) == "/srv/inbox"
    assert workspace.as_of() == dt.datetime(2026, 10, 22, 12, tzinfo=dt.UTC)


def test_credentials_resolve_every_variable_the_config_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path = tmp_path / "trackstack.toml"
    config_path.write_text(
        textwrap.dedent(
            """
            [destinations.google_ads]
            enabled = true
            customer_id = "123-456-7890"
            access_token_env = "ACME_GOOGLE_OAUTH"
            developer_token_env = "ACME_GOOGLE_DEVELOPER_TOKEN"

            [destinations.meta]
            enabled = false
            access_token_env = "ACME_META_SYSTEM_USER"

            [destinations.tiktok]
            enabled = true
            pixel_code = "C4TESTPIXEL0001"
            access_token_env = "ACME_TIKTOK_UNSET"
            """
        )
    )
    values = {
        "ACME_GOOGLE_OAUTH": "ya29.oauth-value",
        "ACME_GOOGLE_DEVELOPER_TOKEN": "dev-token-value",
        "ACME_META_SYSTEM_USER": "meta-value",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ACME_TIKTOK_UNSET", raising=False)
    config = load_config(config_path)
    credentials = CredentialsResource()
    resolved = credentials.resolve(config)
    assert dict(resolved.values) == values
    assert resolved.missing == ("ACME_TIKTOK_UNSET",)
    assert not any(value in repr(resolved) for value in values.values())
    google = credentials.resolve(config, ["google_ads"])
    assert google.names == ["ACME_GOOGLE_DEVELOPER_TOKEN", "ACME_GOOGLE_OAUTH"]
    handed = config.with_secrets(google.values).destinations["google_ads"]
    monkeypatch.delenv("ACME_GOOGLE_DEVELOPER_TOKEN")  # handed over, not read again
    assert handed.secret("developer_token_env") == "dev-token-value"

    # Any *_env setting a destination names is resolved, not a fixed list of fields.
    monkeypatch.setenv("ACME_NEW_CLIENT_SECRET", "new-value")
    future = SimpleNamespace(
        destinations={"x": SimpleNamespace(secret_names=lambda: ["ACME_NEW_CLIENT_SECRET"])}
    )
    assert dict(credentials.resolve(future).values) == {"ACME_NEW_CLIENT_SECRET": "new-value"}  # type: ignore[arg-type]

    # The resource holds no value: none can reach run config or the UI.
    assert defs().resources["credentials"].model_dump() == {"warn_missing": True}


def test_payloads_follow_ingest_through_their_automation_condition() -> None:
    """Once the ingest job's last assets (event_quality, event_routes) are updated, the
    automation sensor requests today's partition of every payload asset, and nothing
    else; with nothing new, nothing."""
    loaded = defs()
    now = dt.datetime(2026, 10, 22, 12, tzinfo=dt.UTC)
    today = now.date().isoformat()
    payloads = [dg.AssetKey(t) for t in PAYLOAD_TABLES.values()]
    with dg.instance_for_test() as instance:

        def tick(cursor: object = None) -> dg.EvaluateAutomationConditionsResult:
            return dg.evaluate_automation_conditions(
                defs=loaded,
                instance=instance,
                asset_selection=dg.AssetSelection.all(),
                evaluation_time=now,
                cursor=cursor,  # type: ignore[arg-type]
            )

        first = tick()
        assert first.total_requested == 0  # nothing ingested yet
        for key in ("events", "event_quality", "event_routes"):
            instance.report_runless_asset_event(dg.AssetMaterialization(key))
        after_ingest = tick(first.cursor)
        assert {k: after_ingest.get_requested_partitions(k) for k in payloads} == {
            k: {today} for k in payloads
        }
        assert after_ingest.total_requested == len(payloads)
        quiet = tick(after_ingest.cursor)
        assert quiet.total_requested == 0
        instance.report_runless_asset_event(dg.AssetMaterialization("event_routes"))
        again = tick(quiet.cursor)
        assert again.total_requested == len(payloads)


def test_inbox_sensor_works_with_a_broken_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_defs.defs.ingest.sensors import inbox_sensor

    config = tmp_path / "broken.toml"
    config.write_text(BROKEN_TOML)
    monkeypatch.setenv("TRACKSTACK_CONFIG", str(config))
    monkeypatch.setenv("TRACKSTACK_INBOX", str(SAMPLES))
    context = dg.build_sensor_context(resources={"folders": FoldersResource(settle_seconds=0)})
    result = inbox_sensor(context)
    assert isinstance(result, dg.SensorResult) and result.run_requests


def test_delivery_without_a_chosen_target_fails_and_says_how_to_choose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_defs.defs.capi.assets import delivery_asset

    monkeypatch.delenv("TRACKSTACK_PLATFORMS", raising=False)
    res = {**resources(tmp_path, "emulator"), "platforms": PlatformsResource()}
    result = dg.materialize(
        [delivery_asset("meta")], resources=res, partition_key="2026-10-20", raise_on_error=False
    )
    assert not result.success
    _, message = step_failures(result)["delivery_meta"]
    assert "TRACKSTACK_PLATFORMS" in message and "'live'" in message and "'emulator'" in message
    assert not (tmp_path / "wh.duckdb").exists()  # refused before opening anything
