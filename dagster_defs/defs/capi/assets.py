"""Per destination and UTC day: the payload table's rows (built set-based, incrementally)
and their delivery (push with retries into the idempotent delivery log)."""

import dagster as dg

from dagster_defs.defs.capi import checks
from dagster_defs.defs.partitions import DAILY
from dagster_defs.lib.metadata import (
    PREVIEW_ROWS,
    json_value,
    markdown_table,
    partition_window,
    window_metadata,
)
from dagster_defs.lib.resources import (
    WAREHOUSE_POOL,
    PlatformCredentials,
    PlatformsResource,
    WarehouseResource,
    WorkspaceResource,
)
from trackstack_wh.delivery.settings import sending_mode
from trackstack_wh.destinations.mapping import DESTINATIONS
from trackstack_wh.enrich import phone_region_from_env
from trackstack_wh.payloads import PAYLOAD_TABLES, build_payloads

PAYLOADS_GROUP = "capi_payloads"
DELIVERY_GROUP = "capi_delivery"
EVENT_FILTER_TAG = "trackstack/event_names"
"""A run tag (comma-separated canonical events) that limits every push in the run; it
holds for partition ranges too, where per-partition run config does not apply."""
PARTITIONED = {
    "partitions_def": DAILY,
    "backfill_policy": dg.BackfillPolicy.single_run(),
    "pool": WAREHOUSE_POOL,
    "kinds": {"duckdb"},
}


class BuildConfig(dg.Config):
    rebuild: bool = False
    """Rebuild every row of the days (default: only missing or stale rows)."""


class PushConfig(dg.Config):
    dry_run: bool = False
    """Log what would be sent; send nothing."""
    retry_failed: bool = False
    """Also resend rows whose retries ran out."""
    event_names: list[str] = []
    """Only these canonical events (empty: all, or the run's event-filter tag)."""


def _tagged_events(context: dg.AssetExecutionContext) -> list[str]:
    tag = context.run.tags.get(EVENT_FILTER_TAG, "")
    return [name.strip() for name in tag.split(",") if name.strip()]


def delivery_asset_name(destination: str) -> str:
    return f"delivery_{destination}"


def _skipped_disabled(destination: str, check: str, asset: str) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"enabled": False},
        check_results=[
            dg.AssetCheckResult(
                check_name=check,
                asset_key=asset,
                passed=True,
                description=f"{destination} is not enabled in the workspace config",
            )
        ],
    )


def payload_asset(destination: str) -> dg.AssetsDefinition:
    table = PAYLOAD_TABLES[destination]

    @dg.asset(
        name=table,
        group_name=PAYLOADS_GROUP,
        deps=["event_quality", "event_routes"],
        check_specs=[checks.conforms_spec(table)],
        description=f"{destination}: one row per routed event and request kind, with its "
        "status, skip reason and exact request-body element.",
        **PARTITIONED,
    )
    def _payloads(
        context: dg.AssetExecutionContext,
        config: BuildConfig,
        warehouse: WarehouseResource,
        workspace: WorkspaceResource,
    ) -> dg.MaterializeResult:
        window = partition_window(context)
        workspace_config = workspace.load()
        if not workspace_config.destinations[destination].enabled:
            return _skipped_disabled(destination, "conforms", table)
        with warehouse.open(workspace_config) as wh:
            [built] = build_payloads(
                wh.conn,
                workspace_config,
                as_of=workspace.as_of(),
                phone_region=phone_region_from_env(workspace_config.phone_region),
                rebuild=config.rebuild,
                destinations=[destination],
                window=window,
                route=False,
            )
            in_window = "event_time >= $start and event_time < $end"
            statuses = wh.sql(
                f"select status, skip_reason, count(*)::bigint as rows from {table} "
                f"where {in_window} group by all order by rows desc",
                start=window.start,
                end=window.end,
            )
            preview = wh.sql(
                "select event_id, request_kind, platform_event_name, payload "
                f"from {table} where {in_window} and status = 'ready' "
                "order by event_time, event_id limit $n",
                start=window.start,
                end=window.end,
                n=PREVIEW_ROWS,
            )
            return dg.MaterializeResult(
                metadata={
                    **window_metadata(window),
                    "dagster/row_count": dg.MetadataValue.int(int(statuses["rows"].sum())),
                    "inserted": built.inserted,
                    "rebuilt": built.rebuilt,
                    "by_status": markdown_table(statuses, rows=20),
                    "preview": markdown_table(preview),
                },
                check_results=[checks.conforms(wh, table, destination, window)],
            )

    return _payloads


def delivery_asset(destination: str) -> dg.AssetsDefinition:
    name = delivery_asset_name(destination)

    @dg.asset(
        name=name,
        group_name=DELIVERY_GROUP,
        deps=[PAYLOAD_TABLES[destination]],
        check_specs=[checks.success_rate_spec(name)],
        description=f"{destination}: the day's ready rows sent, every answer in delivery_log; "
        "rows already delivered or rejected are never sent again.",
        **PARTITIONED,
    )
    def _delivery(
        context: dg.AssetExecutionContext,
        config: PushConfig,
        warehouse: WarehouseResource,
        workspace: WorkspaceResource,
        platforms: PlatformsResource,
        credentials: PlatformCredentials,
    ) -> dg.MaterializeResult:
        window = partition_window(context)
        workspace_config = workspace.load()
        dest = workspace_config.destinations[destination]
        if not dest.enabled:
            return _skipped_disabled(destination, "success_rate", name)
        with_secrets = workspace_config.with_secrets(credentials.for_destination(dest))
        as_of = workspace.as_of()
        with platforms.route(with_secrets, as_of) as routed, warehouse.open(routed) as wh:
            report = wh.push(
                destination,
                since=window.start,
                until=window.end,
                event_names=config.event_names or _tagged_events(context) or None,
                dry_run=config.dry_run,
                retry_failed=config.retry_failed,
                as_of=as_of,
                transport=platforms.transport(),
            )[destination]
            for error in report.errors:
                context.log.error(f"{destination}: {error}")
            if report.halted:
                context.log.warning(f"{destination} stopped: {report.halted}")
            return dg.MaterializeResult(
                metadata={
                    **window_metadata(window),
                    "mode": report.mode,
                    "target": report.target,
                    "pending_at_start": report.pending,
                    "delivered": report.delivered,
                    "rejected": report.rejected,
                    "failed": report.failed,
                    "superseded": report.superseded,
                    "dry_run_rows": report.dry_run_rows,
                    "requests": report.requests,
                    "retries": report.retries,
                    "halted": dg.MetadataValue.text(report.halted or ""),
                    "reasons": json_value(report.reasons),
                },
                check_results=[
                    checks.success_rate(
                        wh, name, destination, sending_mode(dest), report.target, window
                    )
                ],
            )

    return _delivery


payload_assets = [payload_asset(d) for d in DESTINATIONS]
delivery_assets = [delivery_asset(d) for d in DESTINATIONS]


@dg.asset(
    group_name=DELIVERY_GROUP,
    deps=[delivery_asset_name(d) for d in DESTINATIONS],
    **PARTITIONED,
)
def delivery_log(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    """Every delivery attempt; the day's latest outcomes by destination."""
    window = partition_window(context)
    with warehouse.open(workspace.load()) as wh:
        latest = wh.sql(
            "select s.destination, s.mode, s.target, s.outcome, count(*)::bigint as rows "
            "from delivery_status s join events e using (event_id) "
            "where e.ts >= $start and e.ts < $end group by all order by all",
            start=window.start,
            end=window.end,
        )
        attempts = wh.sql("select count(*) as n from delivery_log").item()
        return dg.MaterializeResult(
            metadata={
                **window_metadata(window),
                "dagster/row_count": dg.MetadataValue.int(attempts),
                "latest_outcomes": markdown_table(latest, rows=40),
            }
        )
