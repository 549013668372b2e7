"""Ingest on arrival: a new inbox file or a closed landing segment starts ``ingest_job``
exactly once (a cursor of what was requested, and a run key per set of files), and a
15-minute schedule catches anything else."""

import hashlib
import json
import time

import dagster as dg

from dagster_defs.lib.resources import FoldersResource
from trackstack_wh.sink.segments import closed_segments

ingest_job = dg.define_asset_job(
    "ingest_job",
    selection=dg.AssetSelection.groups("ingest", "warehouse"),
    description="Ingest, then refresh quality and routing.",
)

ingest_schedule = dg.ScheduleDefinition(
    name="ingest_schedule",
    cron_schedule="*/15 * * * *",
    target=ingest_job,
    execution_timezone="UTC",
)


def _run_key(kind: str, items: list[str]) -> str:
    return f"{kind}:" + hashlib.sha256("\n".join(items).encode()).hexdigest()[:24]


def _ingest_config(paths: list[str], *, landing: bool) -> dict:
    config = {"paths": paths, "inbox": False, "landing": landing}
    return {"ops": {"ingest": {"config": config}}}


@dg.sensor(target=ingest_job, minimum_interval_seconds=30)
def inbox_sensor(context: dg.SensorEvaluationContext, folders: FoldersResource) -> dg.SensorResult:
    """New or changed event files in the inbox (once unchanged for ``settle_seconds``)."""
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    now = time.time()
    fresh = {}
    present = folders.inbox_files()
    for path in present:
        stat = path.stat()
        if now - stat.st_mtime < folders.settle_seconds:
            continue  # still being written
        version = f"{stat.st_size}:{stat.st_mtime_ns}"
        if seen.get(str(path)) != version:
            fresh[str(path)] = version
    # Files gone from the inbox leave the cursor, so it stays as small as the inbox.
    kept = {str(p): seen[str(p)] for p in present if str(p) in seen}
    if not fresh:
        return dg.SensorResult(skip_reason="no new files in the inbox", cursor=json.dumps(kept))
    paths = sorted(fresh)
    request = dg.RunRequest(
        run_key=_run_key("inbox", [f"{p}@{fresh[p]}" for p in paths]),
        run_config=_ingest_config(paths, landing=False),
        tags={"trackstack/trigger": "inbox"},
    )
    return dg.SensorResult(run_requests=[request], cursor=json.dumps({**kept, **fresh}))


@dg.sensor(target=ingest_job, minimum_interval_seconds=30)
def landing_sensor(
    context: dg.SensorEvaluationContext, folders: FoldersResource
) -> dg.SensorResult:
    """Closed HTTP-sink segments waiting in the landing directory."""
    requested = set(json.loads(context.cursor)) if context.cursor else set()
    waiting = [p.name for p in closed_segments(folders.landing_path())]
    new = [name for name in waiting if name not in requested]
    # Segments that were loaded (moved to loaded/) leave the cursor, so it stays small.
    cursor = json.dumps(sorted(requested.intersection(waiting).union(new)))
    if not new:
        return dg.SensorResult(skip_reason="no closed landing segments", cursor=cursor)
    request = dg.RunRequest(
        run_key=_run_key("landing", new),
        run_config=_ingest_config([], landing=True),
        tags={"trackstack/trigger": "landing"},
    )
    return dg.SensorResult(run_requests=[request], cursor=cursor)
