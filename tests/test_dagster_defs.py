"""The code location loads, names what the README promises, and validates from the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from dagster_defs.definitions import defs
from dagster_defs.lib.resources import PlatformsResource
from trackstack_wh.destinations.mapping import DESTINATIONS
from trackstack_wh.payloads import PAYLOAD_TABLES

ROOT = Path(__file__).parent.parent


def test_definitions_load_with_every_stage() -> None:
    loaded = defs()
    dg.Definitions.validate_loadable(loaded)
    keys = {k.to_user_string() for k in loaded.resolve_asset_graph().get_all_asset_keys()}
    expected = {
        "landed_batches", "events", "quarantine", "event_quality", "event_routes",
        "delivery_log", "funnel_daily", "quality_daily", "reconciliation_daily",
        "parquet_export", "html_report",
        *PAYLOAD_TABLES.values(), *(f"delivery_{d}" for d in DESTINATIONS),
    }  # fmt: skip
    assert keys == expected
    for job in ("ingest_job", "payloads_job", "daily_job", "reconciliation_job", "html_report_job",
                "crm_refund_churn_upload", *(f"push_{d}_job" for d in DESTINATIONS)):  # fmt: skip
        assert loaded.resolve_job_def(job).name == job
    schedules = {s.name for s in loaded.schedules or []}
    assert {"ingest_schedule", "payloads_schedule", "reconciliation_schedule",
            "crm_refund_churn_schedule", "html_report_schedule"} <= schedules  # fmt: skip
    assert {f"push_{d}_job_schedule" for d in DESTINATIONS} <= schedules
    assert {s.name for s in loaded.sensors or []} == {"inbox_sensor", "landing_sensor"}
    checks = {
        f"{k.asset_key.to_user_string()}:{k.name}"
        for k in loaded.resolve_asset_graph().asset_check_keys
    }
    assert {"events:schema", "landed_batches:accounting_adds_up", "quarantine:quarantine_rate",
            "reconciliation_daily:nothing_unaccounted", "capi_meta:conforms",
            "delivery_meta:success_rate"} <= checks  # fmt: skip


def test_resources_name_credentials_by_variable_never_by_value(monkeypatch) -> None:
    monkeypatch.setenv("TRACKSTACK_META_TOKEN", "real-secret-value-123")
    monkeypatch.setenv("TRACKSTACK_CONFIG", str(ROOT / "trackstack.toml"))
    credentials = defs().resources["credentials"]
    assert "real-secret-value-123" not in repr(credentials)
    assert isinstance(credentials.meta_access_token, dg.EnvVar)
    assert credentials.meta_access_token.env_var_name == "TRACKSTACK_META_TOKEN"
    assert credentials.tiktok_access_token is None  # unset: that push says so


def test_dagster_definitions_validate_passes() -> None:
    env = {**os.environ, "DAGSTER_HOME": ""}
    env.pop("DAGSTER_HOME")
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "definitions", "validate"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All code locations passed validation" in done.stdout + done.stderr


def test_delivery_without_a_chosen_target_fails_and_says_how_to_choose(tmp_path: Path) -> None:
    from dagster_defs.defs.capi.assets import delivery_asset
    from tests.dagster_support import resources

    res = {**resources(tmp_path, "emulator"), "platforms": PlatformsResource()}
    result = dg.materialize(
        [delivery_asset("meta")], resources=res, partition_key="2026-10-20", raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = str(failure.step_failure_data.error)
    assert "TRACKSTACK_PLATFORMS" in message and "'live'" in message and "'emulator'" in message
    assert not (tmp_path / "wh.duckdb").exists()  # refused before opening anything
