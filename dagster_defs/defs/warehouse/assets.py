"""Identity hashes, per-destination dedup and quality scores, then routing: whole-table
and set-based (dedup windows cross days), rebuilt only when events or settings changed."""

import dagster as dg

from dagster_defs.lib.metadata import markdown_table
from dagster_defs.lib.resources import WAREHOUSE_POOL, WarehouseResource, WorkspaceResource
from trackstack_wh.destinations.routing import build_event_routes

GROUP = "warehouse"


@dg.asset(group_name=GROUP, kinds={"duckdb"}, deps=["events"], pool=WAREHOUSE_POOL)
def event_quality(
    warehouse: WarehouseResource, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    """Per-event quality score (0-10) with components, match keys and warnings."""
    with warehouse.open(workspace.load()) as wh:
        run = wh.refresh_quality()
        by_stage = wh.quality_summary(by="stage")
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(run.events),
                "rebuilt": dg.MetadataValue.bool(run.ran),
                "seconds": dg.MetadataValue.float(round(run.seconds, 3)),
                "by_stage": markdown_table(by_stage, rows=10),
            }
        )


@dg.asset(group_name=GROUP, kinds={"duckdb"}, deps=["events"], pool=WAREHOUSE_POOL)
def event_routes(
    warehouse: WarehouseResource, workspace: WorkspaceResource
) -> dg.MaterializeResult:
    """Which enabled destinations each event goes to, or why not."""
    config = workspace.load()
    with warehouse.open(config) as wh:
        build_event_routes(wh.conn, config)
        summary = wh.sql("select * from event_routes_summary")
        rows = wh.sql("select count(*) as n from event_routes").item()
        return dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(rows),
                "outcomes": markdown_table(summary, rows=40),
            }
        )
