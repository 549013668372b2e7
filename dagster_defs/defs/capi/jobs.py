"""Jobs and schedules for payloads and delivery: a daily push per destination
(yesterday's events) and the CRM upload of Refund, Chargeback and Churned. Today's
payloads have no schedule: they follow each ingest through their automation condition
(``capi/assets.py``); ``payloads_job`` builds chosen days by hand. Within the day,
``intraday_job`` builds and pushes new events every few minutes (``defs/intraday/``);
the daily pushes then find those rows done and send only what is left (never twice)."""

import dagster as dg

from dagster_defs.defs.capi.assets import EVENT_FILTER_TAG, PAYLOADS_GROUP, delivery_asset_name
from trackstack_wh.config import CRM_DESTINATIONS, DESTINATIONS
from trackstack_wh.payloads import PAYLOAD_TABLES

CRM_UPLOAD_EVENTS = ["Refund", "Chargeback", "Churned"]

payloads_job = dg.define_asset_job(
    "payloads_job",
    selection=dg.AssetSelection.groups(PAYLOADS_GROUP),
    description="Build every destination's payload rows for the partition's days.",
)

push_jobs = [
    dg.define_asset_job(
        f"push_{destination}_job",
        selection=dg.AssetSelection.assets(delivery_asset_name(destination)),
        description=f"Send {destination}'s ready rows for the partition's days.",
    )
    for destination in DESTINATIONS
]
push_schedules = [
    dg.build_schedule_from_partitioned_job(job, hour_of_day=2, minute_of_hour=10 + i)
    for i, job in enumerate(push_jobs)
]

crm_refund_churn_upload = dg.define_asset_job(
    "crm_refund_churn_upload",
    selection=dg.AssetSelection.assets(
        *(PAYLOAD_TABLES[d] for d in CRM_DESTINATIONS),
        *(delivery_asset_name(d) for d in CRM_DESTINATIONS),
    ),
    tags={EVENT_FILTER_TAG: ",".join(CRM_UPLOAD_EVENTS)},
    description="Server-side batch upload of Refund, Chargeback and Churned to the CRMs.",
)

crm_refund_churn_schedule = dg.build_schedule_from_partitioned_job(
    crm_refund_churn_upload, hour_of_day=1, name="crm_refund_churn_schedule"
)
