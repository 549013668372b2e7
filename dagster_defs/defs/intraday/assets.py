"""Intraday delivery: every new event's payload rows built (no day window, incremental)
and every enabled destination's pending rows pushed, right after ingest and the quality
refresh of the same run (``intraday_job``). It calls ``trackstack_wh.operate.run_once``,
the chain ``trackstack-wh run`` runs from cron; the ingest and quality steps before it are
the ``ingest`` / ``event_quality`` / ``event_routes`` assets, so run_once skips ingest here."""

from dataclasses import asdict

import dagster as dg
import polars as pl

from dagster_defs.defs.intraday import checks
from dagster_defs.lib.metadata import json_value, markdown_table
from dagster_defs.lib.resources import (
    WAREHOUSE_POOL,
    CredentialsResource,
    FoldersResource,
    PlatformsResource,
    WarehouseResource,
    WorkspaceResource,
)
from trackstack_wh.config import LIVE
from trackstack_wh.delivery.credentials import check_credentials
from trackstack_wh.operate import RunSummary, run_once
from trackstack_wh.reports.freshness import freshness_verdicts

GROUP = "intraday"
ASSET = checks.ASSET
CHECK = "all_destinations_sending"
TABLE_COLUMNS = ("destination", "built", "rebuilt", "pending", "sent", "delivered", "rejected",
                 "failed", "superseded", "would_send", "requests", "halted")  # fmt: skip


class IntradayConfig(dg.Config):
    dry_run: bool = False
    """Build as usual, send nothing, log what would be sent."""


def destination_table(summary: RunSummary) -> pl.DataFrame:
    rows = [{c: asdict(d)[c] for c in TABLE_COLUMNS} for d in summary.destinations]
    schema = {c: pl.String if c in ("destination", "halted") else pl.Int64 for c in TABLE_COLUMNS}
    return pl.DataFrame(rows, schema=schema)


def sending_check(summary: RunSummary) -> dg.AssetCheckResult:
    """Fails when a destination halted (ERROR: its rows wait until someone acts) or rows
    failed (WARN: a later run retries them)."""
    halted = {d.destination: d.halted for d in summary.destinations if d.halted}
    failed = {d.destination: d.failed for d in summary.destinations if d.failed}
    return dg.AssetCheckResult(
        check_name=CHECK,
        asset_key=ASSET,
        passed=not halted and not failed,
        severity=dg.AssetCheckSeverity.ERROR if halted else dg.AssetCheckSeverity.WARN,
        metadata={"halted": json_value(halted), "failed_rows": json_value(failed)},
    )


@dg.asset(
    name=ASSET,
    group_name=GROUP,
    kinds={"duckdb"},
    deps=["event_quality", "event_routes"],
    pool=WAREHOUSE_POOL,
    check_specs=[
        dg.AssetCheckSpec(
            CHECK,
            asset=ASSET,
            description="No destination halted and no row failed in the run (halted: ERROR, "
            "failed rows, which a later run retries: WARN).",
        ),
        *checks.specs,
    ],
    description="Every new event's payload rows built (incremental, no day window) and every "
    "enabled destination's pending rows pushed; rows delivered or rejected are never sent "
    "again. Started by intraday_sensor every few minutes.",
)
def intraday_delivery(
    context: dg.AssetExecutionContext,
    config: IntradayConfig,
    warehouse: WarehouseResource,
    workspace: WorkspaceResource,
    platforms: PlatformsResource,
    credentials: CredentialsResource,
    folders: FoldersResource,
) -> dg.MaterializeResult:
    workspace_config = workspace.load()
    secrets = credentials.resolve(workspace_config, [d.name for d in workspace_config.enabled()])
    if secrets.missing and credentials.warn_missing and platforms.booked_as() == LIVE:
        context.log.warning(f"credential variables not set: {list(secrets.missing)}")
    as_of = workspace.as_of()
    transport = platforms.transport()
    with (
        platforms.route(workspace_config.with_secrets(secrets.values), as_of) as routed,
        warehouse.open(routed) as wh,
    ):
        tried = [] if config.dry_run else check_credentials(routed, transport)
        summary = run_once(wh, as_of=as_of, dry_run=config.dry_run, transport=transport)
        verdicts = freshness_verdicts(
            wh.conn, routed.freshness, target=summary.target, landing=folders.landing_path()
        )  # the real clock: waiting rows and held segments age in real time
    for problem in summary.problems():
        context.log.warning(problem)
    runs = summary.destinations
    return dg.MaterializeResult(
        metadata={
            "target": summary.target,
            "push_run_id": summary.push.run_id,
            "as_of": summary.as_of.isoformat(),
            "dry_run": summary.dry_run,
            "built": sum(d.built for d in runs),
            "rebuilt": sum(d.rebuilt for d in runs),
            "delivered": sum(d.delivered for d in runs),
            "rejected": sum(d.rejected for d in runs),
            "failed": sum(d.failed for d in runs),
            "would_send": sum(d.would_send for d in runs),
            "halted": sum(d.halted is not None for d in runs),
            "destinations": markdown_table(destination_table(summary), rows=20),
            "halted_reasons": json_value({d.destination: d.halted for d in runs if d.halted}),
            "quality": json_value(asdict(summary.quality)),
            "seconds": json_value(summary.seconds),
            "credentials_set": json_value(secrets.names),
            "credentials_missing": json_value(list(secrets.missing)),
        },
        check_results=[
            sending_check(summary),
            checks.credentials_result(tried),
            checks.freshness_result(verdicts),
        ],
    )
