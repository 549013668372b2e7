"""The setup doctor as an asset check (``trackstack-wh doctor``): run daily with the HTML
report (``html_report_job``), or on its own from the UI. ERROR when a check fails, WARN
when one warns; the whole checklist is in the metadata."""

import dagster as dg

from dagster_defs.lib.metadata import json_value, markdown_table
from dagster_defs.lib.resources import (
    WAREHOUSE_POOL,
    FoldersResource,
    WarehouseResource,
    WorkspaceResource,
)
from trackstack_wh.doctor import FAIL, OK, WARN

CHECK = "setup_doctor"


@dg.asset_check(
    asset="html_report",
    name=CHECK,
    pool=WAREHOUSE_POOL,
    description="Every item of the TrackStack setup checklist (trackstack-wh doctor): sink "
    "keys, destination credentials, API versions, expected events, the domain allowlist, "
    "SDK and identify records, funnel stages, match keys, deliveries, freshness, "
    "quarantine and landing. Fails (ERROR) on a failed item, WARN on a warning.",
)
def setup_doctor(
    warehouse: WarehouseResource, workspace: WorkspaceResource, folders: FoldersResource
) -> dg.AssetCheckResult:
    """The doctor over the deployment's warehouse, config and landing folder, read-only,
    at the workspace clock."""
    with warehouse.open(workspace.load(), read_only=True) as wh:
        report = wh.doctor(landing=folders.landing_path(), as_of=workspace.as_of())
    names = {status: [c.name for c in report.checks if c.status == status] for status in
             (FAIL, WARN)}  # fmt: skip
    return dg.AssetCheckResult(
        passed=report.status == OK,
        severity=dg.AssetCheckSeverity.ERROR if names[FAIL] else dg.AssetCheckSeverity.WARN,
        metadata={
            "summary": report.summary(),
            "window": report.window,
            "failed": json_value(names[FAIL]),
            "warned": json_value(names[WARN]),
            "table": markdown_table(report.to_frame(), rows=len(report.checks)),
            "checks": json_value(report.to_dict()["checks"]),
        },
    )
