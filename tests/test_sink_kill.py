"""Batches sent concurrently, the sink killed with SIGKILL mid-stream and restarted: every
event that got a 202 is in the warehouse exactly once."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pyarrow as pa

import trackstack_wh as tw
from tests.sink_support import KEY_ENV, events, server_headers, write_config
from trackstack_lab.sink_process import SinkProcess
from trackstack_wh.sink.segments import OPEN_SUFFIX

SENDERS = 8
BATCH = 40


def send_until_refused(url: str, worker: int, acked: list[str], stop: threading.Event) -> None:
    """Post batches of unique events until the server goes away; keep the acked ids."""
    with httpx.Client(timeout=5) as client:
        for n in range(100_000):
            if stop.is_set():
                return
            batch = events(BATCH, prefix=f"w{worker}-b{n}-")
            try:
                response = client.post(url, json={"events": batch}, headers=server_headers())
            except httpx.TransportError:
                return
            if response.status_code == 202:
                assert response.json()["accepted"] == BATCH
                acked.extend(e["eventId"] for e in batch)


def test_sigkill_mid_stream_loses_no_acknowledged_event(tmp_path: Path) -> None:
    config = write_config(tmp_path / "sink.toml", segment_max_bytes=256_000)
    landing = tmp_path / "landing"
    acked: list[list[str]] = [[] for _ in range(SENDERS)]
    stop = threading.Event()
    sink = SinkProcess(landing, config, env=KEY_ENV).start()
    url = sink.events_url
    senders = [
        threading.Thread(target=send_until_refused, args=(url, i, acked[i], stop))
        for i in range(SENDERS)
    ]
    for thread in senders:
        thread.start()
    deadline = time.monotonic() + 30
    while sum(map(len, acked)) < 6_000 and time.monotonic() < deadline:
        time.sleep(0.01)
    sink.kill()
    stop.set()
    for thread in senders:
        thread.join()
    acknowledged = [event_id for ids in acked for event_id in ids]
    assert len(acknowledged) >= 6_000
    assert list(landing.glob(f"*{OPEN_SUFFIX}")), "the kill should leave an open segment"

    with SinkProcess(landing, config, env=KEY_ENV):  # recovers, then closes on stop
        pass
    assert not list(landing.glob(f"*{OPEN_SUFFIX}"))
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        report = wh.ingest_landing(landing)
        assert report.ok and report.files
        wh.conn.register("acked", pa.table({"event_id": acknowledged}))
        found = wh.sql(
            "select count(*) as n, count(distinct event_id) as ids from events "
            "semi join acked using (event_id)"
        )
        assert found.row(0) == (len(acknowledged), len(acknowledged))
        totals = report.totals()
        assert totals["rows_quarantined"] == 0 and totals["rows_duplicate"] == 0
        assert totals["rows_in"] >= len(acknowledged)
        batches = wh.sql("select count(*) as n, count(distinct batch_id) as d from sink_batches")
        assert batches["n"][0] == batches["d"][0] == totals["rows_in"] // BATCH
        assert wh.ingest_landing(landing).files == []
