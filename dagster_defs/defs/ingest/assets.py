"""Landed batches: event files from the inbox and the HTTP sink's closed landing
segments, loaded into ``events`` / ``quarantine`` / ``duplicates`` with their accounting."""

from collections.abc import Iterator

import dagster as dg

from dagster_defs.defs.ingest import checks
from dagster_defs.lib.metadata import json_value, markdown_table
from dagster_defs.lib.resources import (
    WAREHOUSE_POOL,
    FoldersResource,
    WarehouseResource,
    WorkspaceResource,
)
from trackstack_wh import IngestReport

GROUP = "ingest"


class IngestConfig(dg.Config):
    """What to load; every file is loaded at most once (known by its SHA-256)."""

    paths: list[str] = []
    """These files (the inbox sensor's); empty means every file in the inbox."""
    inbox: bool = True
    """Load the inbox when no paths are given."""
    landing: bool = True
    """Also load the sink's closed landing segments."""


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "landed_batches",
            group_name=GROUP,
            kinds={"duckdb"},
            description="Files and landing segments ingested, one row each (ingest_batches).",
        ),
        dg.AssetSpec(
            "events",
            group_name=GROUP,
            kinds={"duckdb", "polars"},
            deps=["landed_batches"],
            description="Validated events, one row per unique eventId (table events).",
        ),
        dg.AssetSpec(
            "quarantine",
            group_name=GROUP,
            kinds={"duckdb"},
            deps=["landed_batches"],
            description="Records refused at ingest with machine-readable reasons.",
        ),
    ],
    check_specs=checks.SPECS,
    pool=WAREHOUSE_POOL,
)
def ingest(
    context: dg.AssetExecutionContext,
    config: IngestConfig,
    warehouse: WarehouseResource,
    workspace: WorkspaceResource,
    folders: FoldersResource,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """Load inbox files (or the given paths) and closed landing segments."""
    with warehouse.open(workspace.load()) as wh:
        reports: list[IngestReport] = []
        if config.paths:
            reports.append(wh.ingest(config.paths))
        elif config.inbox:
            reports.append(wh.ingest(folders.inbox_files()))
        if config.landing:
            reports.append(wh.ingest_landing(folders.landing_path()))
        files = [f for r in reports for f in r.files]
        for f in files:
            (context.log.warning if f.failed else context.log.info)(f.summary())
        loaded = [f for f in files if f.status == "loaded" and f.batch_id]
        batch_ids = [f.batch_id for f in loaded if f.batch_id]
        accounting = {
            "files_loaded": len(loaded),
            "files_already_ingested": sum(f.status == "already_ingested" for f in files),
            "files_unreadable": sum(f.failed for f in files),
            "rows_in": sum(f.rows_in for f in loaded),
            "rows_valid": sum(f.rows_valid for f in loaded),
            "rows_quarantined": sum(f.rows_quarantined for f in loaded),
            "rows_duplicate": sum(f.rows_duplicate for f in loaded),
        }
        totals = wh.sql(
            "select (select count(*) from events) as events, "
            "(select count(*) from quarantine) as quarantine, "
            "(select count(*) from ingest_batches) as batches"
        ).row(0, named=True)
        yield dg.MaterializeResult(
            asset_key="landed_batches",
            metadata={
                **{k: dg.MetadataValue.int(v) for k, v in accounting.items()},
                "dagster/row_count": dg.MetadataValue.int(totals["batches"]),
                "files": markdown_table(
                    wh.sql(
                        "select source_uri, rows_in, rows_valid, rows_quarantined, "
                        "rows_duplicate from ingest_batches "
                        "where batch_id in (select unnest($b::varchar[]))",
                        b=batch_ids,
                    ),
                    rows=20,
                ),
                "unreadable": json_value(
                    {f.path: f.error for f in files if f.status == "unreadable"}
                ),
            },
        )
        yield dg.MaterializeResult(
            asset_key="events",
            metadata={
                "dagster/row_count": dg.MetadataValue.int(totals["events"]),
                "new_rows": dg.MetadataValue.int(accounting["rows_valid"]),
                "preview": markdown_table(
                    wh.sql(
                        "select event_id, event_name, stage, ts, email, value, currency "
                        "from events where batch_id in (select unnest($b::varchar[])) "
                        "order by ts desc limit 5",
                        b=batch_ids,
                    )
                ),
            },
        )
        yield dg.MaterializeResult(
            asset_key="quarantine",
            metadata={
                "dagster/row_count": dg.MetadataValue.int(totals["quarantine"]),
                "new_rows": dg.MetadataValue.int(accounting["rows_quarantined"]),
                "preview": markdown_table(
                    wh.sql(
                        "select source_uri, line_no, reason, detail from quarantine "
                        "where batch_id in (select unnest($b::varchar[])) "
                        "order by source_uri, line_no limit 5",
                        b=batch_ids,
                    )
                ),
            },
        )
        yield checks.accounting_adds_up(wh, batch_ids)
        yield checks.schema(wh, batch_ids)
        yield checks.quarantine_rate_check(wh, batch_ids)
