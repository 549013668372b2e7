"""Daily reports (funnel stages, quality, reconciliation) and the day's tables as
Hive-partitioned Parquet for other engines."""

import dagster as dg

from dagster_defs.defs.partitions import DAILY
from dagster_defs.lib.fanin import AFTER, fan_in_asset
from dagster_defs.lib.metadata import json_value, markdown_table, partition_window, window_metadata
from dagster_defs.lib.resources import (
    WAREHOUSE_POOL,
    FoldersResource,
    PlatformsResource,
    WarehouseResource,
    WorkspaceResource,
)
from trackstack_wh.config import DESTINATIONS
from trackstack_wh.export import export_days
from trackstack_wh.marts import refresh_mart, refresh_reconciliation
from trackstack_wh.payloads import PAYLOAD_TABLES

GROUP = "reports"
PARTITIONED = {
    "partitions_def": DAILY,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "pool": WAREHOUSE_POOL,
    "kinds": {"duckdb"},
    "group_name": GROUP,
}


def _mart(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    workspace: WorkspaceResource,
    name: str,
) -> dg.MaterializeResult:
    window = partition_window(context)
    with warehouse.open(workspace.load()) as wh:
        refreshed = refresh_mart(wh.conn, name, window)
    return dg.MaterializeResult(
        metadata={
            **window_metadata(window),
            "dagster/row_count": dg.MetadataValue.int(refreshed.rows),
            "preview": markdown_table(refreshed.frame, rows=12),
        }
    )


@dg.asset(deps=["events"], **PARTITIONED)
def funnel_daily(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    """Events, people and companies per day and funnel stage."""
    return _mart(context, warehouse, workspace, "funnel_daily")


@dg.asset(deps=["event_quality"], **PARTITIONED)
def quality_daily(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    """Mean quality score, low-quality events and events without strong match keys, per
    day and event."""
    return _mart(context, warehouse, workspace, "quality_daily")


@dg.asset(
    deps=["delivery_log"],
    check_specs=[
        dg.AssetCheckSpec(
            "nothing_unaccounted",
            asset="reconciliation_daily",
            description="Every routed event has payload rows, every ready row is delivered "
            "or finally answered (none failed, in flight, awaiting retry or never sent), no "
            "delivered row has vanished, platform counts match what was sent.",
        )
    ],
    **PARTITIONED,
)
def reconciliation_daily(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    workspace: WorkspaceResource,
    platforms: PlatformsResource,
) -> dg.MaterializeResult:
    """Payload rows per day and destination by outcome bucket, for deliveries to the
    deployment's target (the check fails while any ready row is not delivered or finally
    answered)."""
    window = partition_window(context)
    with warehouse.open(workspace.load()) as wh:
        refreshed, rec = refresh_reconciliation(wh.conn, window, target=platforms.booked_as())
        reasons = rec.reasons
    return dg.MaterializeResult(
        metadata={
            **window_metadata(window),
            "dagster/row_count": dg.MetadataValue.int(refreshed.rows),
            "totals": markdown_table(rec.totals(), rows=10),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name="nothing_unaccounted",
                passed=not rec.problems,
                metadata={
                    "problems": json_value(rec.problems),
                    "reasons": markdown_table(reasons, rows=30),
                },
            )
        ],
    )


@dg.op(ins={AFTER: dg.In(dg.Nothing)}, pool=WAREHOUSE_POOL)
def export_parquet(
    context: dg.OpExecutionContext,
    warehouse: WarehouseResource,
    workspace: WorkspaceResource,
    folders: FoldersResource,
) -> dg.Output[None]:
    """The day's events, quality rows and payload rows as Hive-partitioned Parquet."""
    window = partition_window(context)
    root = folders.export_path()
    with warehouse.open(workspace.load()) as wh:
        files = export_days(wh.conn, root, window)
    rows: dict[str, int] = {}
    for f in files:
        rows[f.table] = rows.get(f.table, 0) + f.rows
    return dg.Output(
        None,
        metadata={
            **window_metadata(window),
            "root": dg.MetadataValue.path(str(root)),
            "files": len(files),
            "rows_by_table": json_value(rows),
        },
    )


parquet_export = fan_in_asset(
    "parquet_export",
    export_parquet,
    ["events", "event_quality", *(PAYLOAD_TABLES[d] for d in DESTINATIONS)],
    group_name=GROUP,
    partitions_def=DAILY,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"duckdb", "parquet"},
    description="The day's events, quality rows and payload rows as Hive-partitioned "
    "Parquet (``<export>/<table>/event_date=YYYY-MM-DD/data.parquet``); a disabled "
    "destination's table is exported as it is.",
)


@dg.asset(deps=["delivery_log"], **PARTITIONED)
def platform_diagnostics(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    workspace: WorkspaceResource,
    platforms: PlatformsResource,
) -> dg.MaterializeResult:
    """What the platforms made of what was sent (Meta's dataset quality, Google's request
    statuses), read back with the deployment's target; a read-back that fails (or no
    target chosen) is reported here and never fails the run."""
    problem = platforms.target_problem()
    if problem is not None:
        return dg.MaterializeResult(metadata={"skipped": problem})
    with warehouse.open(workspace.load()) as wh, platforms.route(wh.config, None) as pointed:
        wh.config = pointed
        readings = wh.fetch_diagnostics(transport=platforms.transport())
        latest = wh.diagnostics()
    context.log.info("read back: %s", [r.to_dict() for r in readings])
    return dg.MaterializeResult(
        metadata={
            "readings": json_value([r.to_dict() for r in readings]),
            "dagster/row_count": dg.MetadataValue.int(latest.height),
            "latest": markdown_table(latest.drop("target"), rows=20),
        }
    )
