"""Resources for running the Dagster definitions against temporary files and a live
platform emulator (tests call assets, jobs and sensors with these)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import dagster as dg

from dagster_defs.defs.capi import assets as capi_assets
from dagster_defs.defs.ingest import assets as ingest_assets
from dagster_defs.defs.intraday.assets import intraday_delivery
from dagster_defs.defs.intraday.sensors import intraday_job
from dagster_defs.defs.reports import assets as reports_assets
from dagster_defs.defs.warehouse import assets as warehouse_assets
from dagster_defs.lib.resources import (
    CredentialsResource,
    FoldersResource,
    PlatformsResource,
    WarehouseResource,
    WorkspaceResource,
)

ROOT = Path(__file__).parent.parent
SAMPLES = ROOT / "data" / "samples"
CONFIG = ROOT / "trackstack.toml"
CLOCK = "2026-10-22T12:00:00+00:00"
"""The tests' "now": the samples' last week is inside every platform's age limit."""
DAYS = ("2026-10-20", "2026-10-21")


def make_inbox(tmp_path: Path) -> Path:
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES, inbox)
    return inbox


def write_config(tmp_path: Path, *, disabled: tuple[str, ...] = ()) -> Path:
    """trackstack.toml with the ``disabled`` destinations' ``enabled = true`` turned off."""
    lines, section = [], ""
    for line in CONFIG.read_text().splitlines():
        if line.startswith("["):
            section = line.strip("[]")
        if line == "enabled = true" and section.removeprefix("destinations.") in disabled:
            line = "enabled = false"
        lines.append(line)
    path = tmp_path / "trackstack.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def resources(
    tmp_path: Path, platforms: str, *, clock: str = CLOCK, config: Path = CONFIG
) -> dict[str, Any]:
    return {
        "warehouse": WarehouseResource(database=str(tmp_path / "wh.duckdb")),
        "workspace": WorkspaceResource(config_path=str(config), clock=clock),
        "folders": FoldersResource(
            inbox=str(tmp_path / "inbox"),
            landing=str(tmp_path / "landing"),
            export=str(tmp_path / "export"),
            settle_seconds=0,
        ),
        "platforms": PlatformsResource(target=platforms),
        "credentials": CredentialsResource(),
    }


def all_assets() -> list[dg.AssetsDefinition]:
    """Every asset of the daily graph, unbound (the tests hand in their own resources);
    ``intraday_delivery``, which pushes everything pending, is in ``intraday_job_def``."""
    return [
        ingest_assets.ingest,
        warehouse_assets.event_quality,
        warehouse_assets.event_routes,
        *capi_assets.payload_assets,
        *capi_assets.delivery_assets,
        capi_assets.delivery_log,
        reports_assets.funnel_daily,
        reports_assets.quality_daily,
        reports_assets.reconciliation_daily,
        reports_assets.platform_diagnostics,
        reports_assets.parquet_export,
    ]


def intraday_job_def(res: dict[str, Any]) -> dg.JobDefinition:
    """``intraday_job`` over its assets (ingest, quality, routing, intraday delivery)."""
    assets = [ingest_assets.ingest, warehouse_assets.event_quality,
              warehouse_assets.event_routes, intraday_delivery]  # fmt: skip
    return dg.Definitions(assets=assets, jobs=[intraday_job], resources=res).resolve_job_def(
        intraday_job.name
    )


def partitioned(assets: list[Any]) -> list[Any]:
    return [a for a in assets if a.partitions_def is not None]


def unpartitioned(assets: list[Any]) -> list[Any]:
    return [a for a in assets if a.partitions_def is None]


def materialized(result: dg.ExecuteInProcessResult) -> set[str]:
    return {
        e.asset_key.to_user_string()
        for e in result.get_asset_materialization_events()
        if e.asset_key is not None
    }


def check_evaluations(result: dg.ExecuteInProcessResult) -> dict[str, tuple[bool, str]]:
    """``asset:check`` -> (passed, severity)."""
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": (e.passed, e.severity.value)
        for e in result.get_asset_check_evaluations()
    }
