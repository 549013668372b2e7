"""``intraday_job`` (ingest, quality and routing, then intraday delivery: one chain in one
run) and ``intraday_sensor``, which starts it every few minutes.

The sensor ticks every 30 s and reads its settings when it ticks (the ``intraday`` and
``platforms`` resources), never when the code location loads: the interval
($TRACKSTACK_INTRADAY_MINUTES, default 5), and where deliveries go ($TRACKSTACK_PLATFORMS).
It starts a run when the interval has passed since the last one it started and no
intraday run is still queued or running, so runs never pile up or overlap.

It is on by default, and on its own only starts runs that go to the local emulator: a
new user's ``dg dev`` with ``TRACKSTACK_PLATFORMS=emulator`` delivers within minutes,
without a click, and nothing leaves the machine. With no target it skips and says how to
choose one. Pushing to the live platforms (or a URL) without anyone watching needs a
second, explicit yes: $TRACKSTACK_INTRADAY_LIVE=1 (or the resource's ``unattended_live``);
until then its ticks skip and say so (stop the sensor in the UI to pause it either way).
"""

import json
import time

import dagster as dg

from dagster_defs.defs.capi.assets import INTRADAY_TAG
from dagster_defs.lib.resources import INTRADAY_LIVE_ENV, IntradayResource, PlatformsResource

JOB = "intraday_job"
TICK_SECONDS = 30
ACTIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
"""A run in one of these has not finished: the next one waits for it."""

intraday_job = dg.define_asset_job(
    JOB,
    selection=dg.AssetSelection.groups("ingest", "warehouse", "intraday"),
    tags={INTRADAY_TAG: "true"},
    description="Ingest new inbox files and landing segments, refresh quality and routing, "
    "build every new event's payload rows and push every destination's pending rows.",
)


def _last_request(cursor: str | None) -> float | None:
    return json.loads(cursor)["requested_at"] if cursor else None


@dg.sensor(
    job=intraday_job,
    minimum_interval_seconds=TICK_SECONDS,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts intraday_job every $TRACKSTACK_INTRADAY_MINUTES (default 5) minutes, "
    "one run at a time; on its own only for the emulator target, for live platforms once "
    f"${INTRADAY_LIVE_ENV}=1.",
)
def intraday_sensor(
    context: dg.SensorEvaluationContext,
    intraday: IntradayResource,
    platforms: PlatformsResource,
) -> dg.SensorResult:
    """A run when the interval has passed and the previous run has finished."""
    problem = platforms.target_problem()
    if problem:
        return dg.SensorResult(skip_reason=problem)
    target = platforms.booked_as()
    if target != "emulator" and not intraday.live_allowed():
        return dg.SensorResult(
            skip_reason=f"deliveries go to {target!r}: intraday runs push there unattended "
            f"only once {INTRADAY_LIVE_ENV}=1 is set (or the intraday resource's "
            "unattended_live); until then run intraday_job by hand"
        )
    now = time.time()
    last = _last_request(context.cursor)
    interval = intraday.interval().total_seconds()
    if last is not None and now - last < interval:
        return dg.SensorResult(
            skip_reason=f"next intraday run in {interval - (now - last):.0f} s "
            f"(every {interval / 60:g} min)"
        )
    active = context.instance.get_runs(
        filters=dg.RunsFilter(job_name=JOB, statuses=ACTIVE), limit=1
    )
    if active:
        return dg.SensorResult(
            skip_reason=f"intraday run {active[0].run_id[:8]} has not finished; the next "
            "starts after it"
        )
    request = dg.RunRequest(run_key=f"intraday:{int(now)}", tags={"trackstack/trigger": "intraday"})
    return dg.SensorResult(run_requests=[request], cursor=json.dumps({"requested_at": now}))
