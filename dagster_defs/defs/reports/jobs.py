"""Daily reconciliation (yesterday's reports and checks at 04:00 UTC), and ``daily_job``:
every partitioned asset, for backfilling a range of days in one run."""

import dagster as dg

from dagster_defs.defs.capi.assets import DELIVERY_GROUP, PAYLOADS_GROUP
from dagster_defs.defs.reports.assets import GROUP

reconciliation_job = dg.define_asset_job(
    "reconciliation_job",
    selection=dg.AssetSelection.groups(GROUP),
    description="Funnel, quality and reconciliation reports and the Parquet export.",
)

reconciliation_schedule = dg.build_schedule_from_partitioned_job(
    reconciliation_job, hour_of_day=4, name="reconciliation_schedule"
)

daily_job = dg.define_asset_job(
    "daily_job",
    selection=dg.AssetSelection.groups(PAYLOADS_GROUP, DELIVERY_GROUP, GROUP),
    description="Payloads, delivery and reports for the chosen days (backfills).",
)
