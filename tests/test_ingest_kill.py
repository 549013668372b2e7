"""An ingest killed with SIGKILL after some of its chunks committed: the next writable
connection removes them, and ingesting the file again loads it whole, exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import trackstack_wh as tw
from trackstack_lab.synthetic import SyntheticSpec, write_ndjson

CHILD = """
import sys, time
import trackstack_wh as tw
from trackstack_wh.ingest import pipeline, readers, row_groups

readers.BLOCK_BYTES = 64 << 10
row_groups.CHUNK_ROWS = row_groups.ROW_GROUP_ROWS = 500
load_chunk = pipeline._Batch.load_chunk
loaded = []

def load_then_stall(self, chunk):
    if len(loaded) == 3:  # three chunks loaded and committed: stall in the fourth
        print("three chunks", flush=True)
        time.sleep(60)
    load_chunk(self, chunk)
    loaded.append(chunk.num_rows)

pipeline._Batch.load_chunk = load_then_stall
tw.connect(sys.argv[1]).ingest(sys.argv[2])
"""

COUNTS = (
    "select (select count(*) from events) e, (select count(*) from quarantine) q, "
    "(select count(*) from duplicates) d, (select count(*) from ingest_batches) b, "
    "(select count(*) from ingest_loading) l"
)


def test_ingest_killed_midway_leaves_nothing_and_loads_whole_again(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    write_ndjson(path, SyntheticSpec(n=4_000, seed=9, malformed_rate=0.01))
    db = tmp_path / "wh.duckdb"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "three chunks"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
    with tw.connect(db, read_only=True) as seen:  # what the killed load left committed
        events, _, _, batches, loading = seen.sql(COUNTS).row(0)
        assert events >= 3 * 400 and batches == 0 and loading == 1
    with tw.connect(db) as wh:
        assert wh.sql(COUNTS).row(0) == (0, 0, 0, 0, 0)
        report = wh.ingest(path).files[0]
        assert report.status == "loaded" and report.balanced
        assert wh.sql(COUNTS).row(0) == (
            report.rows_valid,
            report.rows_quarantined,
            report.rows_duplicate,
            1,
            0,
        )
