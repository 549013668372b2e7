"""The static HTML report (funnel by week, conversion funnel beside delivery, quality,
delivery) as a file asset, rebuilt daily after reconciliation; analysts open
``<export>/report.html`` in any browser."""

import dagster as dg

from dagster_defs.lib.resources import (
    WAREHOUSE_POOL,
    FoldersResource,
    WarehouseResource,
    WorkspaceResource,
)

REPORT_NAME = "report.html"


@dg.asset(
    deps=["events", "event_quality", "delivery_log"],
    pool=WAREHOUSE_POOL,
    kinds={"duckdb", "html"},
    group_name="analyst",
)
def html_report(
    warehouse: WarehouseResource, workspace: WorkspaceResource, folders: FoldersResource
) -> dg.MaterializeResult:
    """One self-contained HTML file (charts as inline SVG, no scripts, no external
    requests) with the funnel, conversion funnel (with what the ad platforms received per
    step), quality and delivery reports over every event."""
    with warehouse.open(workspace.load()) as wh:
        written = wh.write_html_report(folders.export_path() / REPORT_NAME)
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(written.resolve())),
            "bytes": dg.MetadataValue.int(written.stat().st_size),
        }
    )


html_report_job = dg.define_asset_job(
    "html_report_job", selection=[html_report], description="Rewrite the HTML report."
)

html_report_schedule = dg.ScheduleDefinition(
    name="html_report_schedule",
    job=html_report_job,
    cron_schedule="30 4 * * *",
    execution_timezone="UTC",
    description="After the 04:00 reconciliation.",
)
