"""Sensors: each new inbox file or closed landing segment starts ingest exactly once."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import dagster as dg

from dagster_defs.defs.ingest.assets import ingest
from dagster_defs.defs.ingest.sensors import inbox_sensor, landing_sensor
from dagster_defs.lib.resources import FoldersResource
from tests.dagster_support import SAMPLES, resources
from trackstack_wh.sink.segments import loaded_path


def folders(tmp_path: Path, settle: float = 0) -> FoldersResource:
    return FoldersResource(
        inbox=str(tmp_path / "inbox"), landing=str(tmp_path / "landing"), settle_seconds=settle
    )


def tick(sensor: dg.SensorDefinition, cursor: str | None, res: FoldersResource) -> dg.SensorResult:
    context = dg.build_sensor_context(cursor=cursor, resources={"folders": res})
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def requested_paths(result: dg.SensorResult) -> list[str]:
    [request] = result.run_requests or []
    return request.run_config["ops"]["ingest"]["config"]["paths"]


def test_inbox_sensor_requests_each_file_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES, inbox)
    (inbox / "notes.txt").write_text("not an event file")
    res = folders(tmp_path)

    first = tick(inbox_sensor, None, res)
    assert sorted(Path(p).name for p in requested_paths(first)) == [
        "billing_export.csv", "edge_batch.json", "web_sdk.ndjson",
    ]  # fmt: skip
    again = tick(inbox_sensor, first.cursor, res)
    assert not again.run_requests  # the same files: nothing new, however often it ticks

    added = inbox / "late.ndjson"
    added.write_text('{"event":"PageView","eventId":"late-1","ts":1790000000}\n')
    os.utime(added, (time.time() - 5, time.time() - 5))
    third = tick(inbox_sensor, again.cursor, res)
    assert requested_paths(third) == [str(added)]
    assert third.run_requests[0].run_key != first.run_requests[0].run_key

    (inbox / "edge_batch.json").unlink()
    fourth = tick(inbox_sensor, third.cursor, res)
    assert not fourth.run_requests
    assert str(inbox / "edge_batch.json") not in json.loads(fourth.cursor or "{}")


def test_inbox_sensor_waits_for_a_file_to_settle(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "copying.ndjson").write_text('{"event":"PageView"}\n')
    result = tick(inbox_sensor, None, folders(tmp_path, settle=60))
    assert not result.run_requests
    assert result.skip_reason is not None


def test_landing_sensor_requests_closed_segments_once(tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    open_segment = landing / "seg-20261020T000000Z-0002.landing.ndjson.open"
    closed = landing / "seg-20261020T000000Z-0001.landing.ndjson"
    header = {"_edgeBatch": {"batchId": "b1", "receivedAt": "2026-10-20T00:00:00Z",
                             "projectId": "demo", "events": 1}}  # fmt: skip
    closed.write_text(json.dumps(header) + '\n{"event":"PageView","eventId":"s-1"}\n')
    open_segment.write_text("")
    res = folders(tmp_path)

    first = tick(landing_sensor, None, res)
    [request] = first.run_requests or []
    assert request.run_config["ops"]["ingest"]["config"] == {
        "paths": [], "inbox": False, "landing": True,
    }  # fmt: skip
    assert json.loads(first.cursor or "[]") == [closed.name]
    assert not tick(landing_sensor, first.cursor, res).run_requests

    # Once ingest moves it to loaded/, it leaves the cursor; a new segment is requested.
    target = loaded_path(closed)
    target.parent.mkdir(parents=True, exist_ok=True)
    closed.rename(target)
    open_segment.rename(landing / "seg-20261020T000000Z-0002.landing.ndjson")
    third = tick(landing_sensor, first.cursor, res)
    assert json.loads(third.cursor or "[]") == ["seg-20261020T000000Z-0002.landing.ndjson"]
    assert third.run_requests


def test_ingest_of_the_requested_files_twice_loads_them_once(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES, inbox)
    res = resources(tmp_path, "live")
    request = tick(inbox_sensor, None, folders(tmp_path)).run_requests[0]
    for expected_loaded in (3, 0):
        result = dg.materialize([ingest], resources=res, run_config=request.run_config)
        assert result.success
        meta = {
            e.asset_key.to_user_string(): e.materialization.metadata
            for e in result.get_asset_materialization_events()
        }
        assert meta["landed_batches"]["files_loaded"].value == expected_loaded
        assert meta["landed_batches"]["files_already_ingested"].value == 3 - expected_loaded
