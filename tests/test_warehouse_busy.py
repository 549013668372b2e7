"""A warehouse file held by another process: readers wait, then fail with a clear error."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import trackstack_wh as tw

HOLD = """
import sys, time, trackstack_wh as tw
wh = tw.connect(sys.argv[1])
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
wh.close()
"""


def hold(db: Path, seconds: float) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
    return holder


def test_a_reader_waits_for_the_writer_to_let_go(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    tw.connect(db).close()
    holder = hold(db, 1.5)
    started = time.monotonic()
    with tw.connect(db, read_only=True, busy_timeout=30) as wh:
        assert wh.sql("select count(*) from events").item() == 0
    assert 0.5 < time.monotonic() - started < 30
    holder.communicate(timeout=30)


def test_a_reader_that_cannot_wait_gets_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "busy.duckdb"
    tw.connect(db).close()
    holder = hold(db, 10)
    try:
        with pytest.raises(tw.WarehouseBusyError) as caught:
            tw.connect(db, read_only=True, busy_timeout=0.5)
        error = caught.value
        assert error.holder_pid == holder.pid
        assert str(db) in str(error)
        assert f"process {holder.pid}" in str(error)
        assert "try again" in str(error)
    finally:
        holder.kill()
        holder.communicate()
