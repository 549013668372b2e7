"""Per destination and UTC day: the payload table's rows (built set-based, incrementally)
and their delivery (push with retries into the idempotent delivery log).

Every destination the library supports has its two assets: which ones are enabled is in
trackstack.toml, and the code location does not read it when it loads. A step reads it
when it runs; for a destination that is not enabled it logs why and yields nothing: no
materialization and no check result (neither green nor red), and the same run's
delivery step for it is skipped by Dagster. The assets are ``skippable`` specs of
``can_subset`` multi-assets for that (a plain asset must materialize, and its checks must
report), and ``delivery_log`` is a fan-in that still runs (``dagster_defs.lib.fanin``).

Payloads follow ingest: each payload asset's automation condition (``eager``) requests
today's partition whenever ``event_routes`` or ``event_quality`` (refreshed by every
ingest run) is updated, once that run has finished; updates by intraday runs (tagged
``INTRADAY_TAG``) do not count, as those runs build every new event's rows themselves.
"""

from collections.abc import Iterator

import dagster as dg

from dagster_defs.defs.capi import checks
from dagster_defs.defs.partitions import DAILY
from dagster_defs.lib.fanin import AFTER, fan_in_asset
from dagster_defs.lib.metadata import (
    PREVIEW_ROWS,
    json_value,
    markdown_table,
    partition_window,
    run_window,
    window_metadata,
)
from dagster_defs.lib.resources import (
    WAREHOUSE_POOL,
    CredentialsResource,
    PlatformsResource,
    WarehouseResource,
    WorkspaceResource,
)
from trackstack_wh.config import DESTINATIONS, LIVE, WorkspaceConfig
from trackstack_wh.delivery.settings import sending_mode
from trackstack_wh.enrich import phone_region_from_env
from trackstack_wh.payloads import PAYLOAD_TABLES, build_payloads

PAYLOADS_GROUP = "capi_payloads"
DELIVERY_GROUP = "capi_delivery"
EVENT_FILTER_TAG = "trackstack/event_names"
"""A run tag (comma-separated canonical events) that limits every push in the run; it
holds for partition ranges too, where per-partition run config does not apply."""
INTRADAY_TAG = "trackstack/intraday"
"""Set on every run of ``intraday_job``: it builds and pushes every new event itself, so
its updates of event_quality / event_routes need no payload partition run after it."""
_UPDATED_OUTSIDE_INTRADAY = dg.AutomationCondition.any_deps_match(
    (
        dg.AutomationCondition.newly_updated()
        & ~dg.AutomationCondition.executed_with_root_target()
        & ~dg.AutomationCondition.all_new_updates_have_run_tags(tag_keys={INTRADAY_TAG})
    ).with_label("newly_updated_outside_intraday")
    | dg.AutomationCondition.will_be_requested()
).with_label("any_deps_updated_outside_intraday")
PAYLOADS_FOLLOW_INGEST = dg.AutomationCondition.eager().replace(
    "any_deps_updated", _UPDATED_OUTSIDE_INTRADAY
)
"""Today's partition, requested after each update of the payloads' upstream assets,
except by intraday runs (which built the rows already)."""
SINGLE_RUN = dg.BackfillPolicy.single_run()


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


def is_enabled(
    context: dg.AssetExecutionContext, config: WorkspaceConfig, destination: str
) -> bool:
    """Whether ``destination`` is enabled; when not, the run log says so and why nothing
    is materialized."""
    if config.destinations[destination].enabled:
        return True
    where = config.path or "the workspace config (no trackstack.toml)"
    context.log.info(
        f"{destination} is not enabled in {where}: nothing built or sent, so its assets are "
        "not materialized and their checks not evaluated (enable it there to deliver)"
    )
    return False


def _selected(context: dg.AssetExecutionContext, asset: str, check: str) -> tuple[bool, bool]:
    """Whether the asset, and its check, are in this run's selection."""
    key = dg.AssetKey(asset)
    return (
        key in context.selected_asset_keys,
        dg.AssetCheckKey(key, check) in context.selected_asset_check_keys,
    )


def payload_asset(destination: str) -> dg.AssetsDefinition:
    table = PAYLOAD_TABLES[destination]

    @dg.multi_asset(
        name=table,
        specs=[
            dg.AssetSpec(
                table,
                group_name=PAYLOADS_GROUP,
                deps=["event_quality", "event_routes"],
                kinds={"duckdb"},
                description=f"{destination}: one row per routed event and request kind, with "
                "its status, skip reason and exact request-body element.",
                skippable=True,
                automation_condition=PAYLOADS_FOLLOW_INGEST,
            )
        ],
        check_specs=[checks.conforms_spec(table)],
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
        can_subset=True,  # lets a step yield neither the asset nor its check
    )
    def _payloads(
        context: dg.AssetExecutionContext,
        config: BuildConfig,
        warehouse: WarehouseResource,
        workspace: WorkspaceResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        workspace_config = workspace.load()
        if not is_enabled(context, workspace_config, destination):
            return
        build, check = _selected(context, table, "conforms")
        with warehouse.open(workspace_config) as wh:
            if not build:  # the check alone, on the rows built (the run's days, or all)
                yield checks.conforms(wh, table, destination, run_window(context))
                return
            window = partition_window(context)
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
            yield dg.MaterializeResult(
                asset_key=table,
                metadata={
                    **window_metadata(window),
                    "dagster/row_count": dg.MetadataValue.int(int(statuses["rows"].sum())),
                    "inserted": built.inserted,
                    "rebuilt": built.rebuilt,
                    "by_status": markdown_table(statuses, rows=20),
                    "preview": markdown_table(preview),
                },
                check_results=[checks.conforms(wh, table, destination, window)] if check else [],
            )

    return _payloads


def delivery_asset(destination: str) -> dg.AssetsDefinition:
    name = delivery_asset_name(destination)

    @dg.multi_asset(
        name=name,
        specs=[
            dg.AssetSpec(
                name,
                group_name=DELIVERY_GROUP,
                deps=[PAYLOAD_TABLES[destination]],
                kinds={"duckdb"},
                description=f"{destination}: the day's ready rows sent, every answer in "
                "delivery_log; rows already delivered or rejected are never sent again.",
                skippable=True,
            )
        ],
        check_specs=[checks.success_rate_spec(name)],
        partitions_def=DAILY,
        backfill_policy=SINGLE_RUN,
        pool=WAREHOUSE_POOL,
        can_subset=True,  # lets a step yield neither the asset nor its check
    )
    def _delivery(
        context: dg.AssetExecutionContext,
        config: PushConfig,
        warehouse: WarehouseResource,
        workspace: WorkspaceResource,
        platforms: PlatformsResource,
        credentials: CredentialsResource,
    ) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        workspace_config = workspace.load()
        if not is_enabled(context, workspace_config, destination):
            return
        push, check = _selected(context, name, "success_rate")
        dest = workspace_config.destinations[destination]
        if not push:  # the check alone, on what was answered (the run's days, or all)
            with warehouse.open(workspace_config) as wh:
                target = platforms.booked_as()
                window = run_window(context)
                yield checks.success_rate(wh, name, destination, sending_mode(dest), target, window)
            return
        window = partition_window(context)
        secrets = credentials.resolve(workspace_config, [destination])
        if secrets.missing and credentials.warn_missing and platforms.booked_as() == LIVE:
            context.log.warning(f"{destination}: credential variables not set: {secrets.missing}")
        with_secrets = workspace_config.with_secrets(secrets.values)
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
            success_rate = checks.success_rate(
                wh, name, destination, sending_mode(dest), report.target, window
            )
            yield dg.MaterializeResult(
                asset_key=name,
                metadata={
                    **window_metadata(window),
                    "mode": report.mode,
                    "target": report.target,
                    "credentials_set": json_value(secrets.names),
                    "credentials_missing": json_value(list(secrets.missing)),
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
                check_results=[success_rate] if check else [],
            )

    return _delivery


payload_assets = [payload_asset(d) for d in DESTINATIONS]
delivery_assets = [delivery_asset(d) for d in DESTINATIONS]


@dg.op(ins={AFTER: dg.In(dg.Nothing)}, pool=WAREHOUSE_POOL)
def summarize_delivery_log(
    context: dg.OpExecutionContext, warehouse: WarehouseResource, workspace: WorkspaceResource
) -> dg.Output[None]:
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
    return dg.Output(
        None,
        metadata={
            **window_metadata(window),
            "dagster/row_count": dg.MetadataValue.int(attempts),
            "latest_outcomes": markdown_table(latest, rows=40),
        },
    )


delivery_log = fan_in_asset(
    "delivery_log",
    summarize_delivery_log,
    [delivery_asset_name(d) for d in DESTINATIONS],
    group_name=DELIVERY_GROUP,
    partitions_def=DAILY,
    backfill_policy=SINGLE_RUN,
    kinds={"duckdb"},
    description="Every delivery attempt; the day's latest outcomes by destination (after "
    "every enabled destination's delivery).",
)
