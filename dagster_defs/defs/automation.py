"""The sensor that evaluates automation conditions (today's payloads after each ingest
that was not an intraday run, see ``capi/assets.py``). Dagster adds one when assets have
conditions, but stopped; this one covers every asset and starts running, so payloads
follow ingest out of the box (it can still be stopped in the UI)."""

import dagster as dg

AUTOMATION_SENSOR = "default_automation_condition_sensor"


@dg.definitions
def automation() -> dg.Definitions:
    return dg.Definitions(
        sensors=[
            dg.AutomationConditionSensorDefinition(
                AUTOMATION_SENSOR,
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                description="Evaluates the assets' automation conditions: today's payload "
                "partitions after each update of event_routes / event_quality (except by "
                "intraday runs, which build the rows themselves).",
            )
        ]
    )
