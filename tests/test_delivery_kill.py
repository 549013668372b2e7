"""A push killed with SIGKILL mid-run, then run again: nothing acknowledged is resent,
nothing is lost, and the platform counts every event once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import polars as pl
import pytest

import trackstack_wh as tw
from trackstack_lab.emulator import EmulatorProcess, dedup_identity
from trackstack_wh.delivery.reconcile import UNSETTLED
from trackstack_wh.payloads import PAYLOAD_TABLES

ROOT = Path(__file__).parent.parent
DESTINATIONS = ("tiktok", "snapchat")

CONFIG = """
[destinations.tiktok]
enabled = true
pixel_code = "C4TESTPIXEL0001"
access_token_env = "TRACKSTACK_TIKTOK_TOKEN"
base_url = "{base}/tiktok"
delivery = {{ batch_size = 40, concurrency = 2, retry_base_seconds = 0.01 }}

[destinations.snapchat]
enabled = true
pixel_id = "a1b2c3d4-0000-4000-8000-000000000001"
access_token_env = "TRACKSTACK_SNAPCHAT_TOKEN"
base_url = "{base}/snapchat"
delivery = {{ batch_size = 40, concurrency = 2, retry_base_seconds = 0.01 }}
"""


def push_command(db: Path, config: Path, clock: str) -> list[str]:
    return [sys.executable, "-m", "trackstack_wh.cli", "--db", str(db), "--config", str(config),
            "push", "--as-of", clock, "--json"]  # fmt: skip


def test_push_killed_mid_run_resumes_without_resending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "wh.duckdb"
    with tw.connect(db, config=ROOT / "trackstack.toml") as wh:
        wh.ingest(ROOT / "data" / "samples")
        clock = wh.replay_clock()
        wh.build_payloads(as_of=clock)
    env = {**os.environ, "TRACKSTACK_TIKTOK_TOKEN": "t", "TRACKSTACK_SNAPCHAT_TOKEN": "s"}
    with EmulatorProcess(clock=clock) as emu:
        config = tmp_path / "push.toml"
        config.write_text(CONFIG.format(base=emu.base_url))
        for dest in DESTINATIONS:
            emu.inject(dest, "slow", times=10, delay=0.25)
        first = subprocess.Popen(push_command(db, config, clock.isoformat()), env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 60
        while emu.stats()["tiktok"]["received"] < 200 and time.monotonic() < deadline:
            assert first.poll() is None, first.communicate()
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.communicate()
        assert first.returncode == -signal.SIGKILL

        with tw.connect(db, config=config) as wh:
            logged = {
                dest: wh.sql(
                    f"select p.request_kind, p.payload::varchar from delivery_status s "
                    f"join {PAYLOAD_TABLES[dest]} p using (request_kind, event_id) "
                    "where s.destination = $d and s.outcome = 'delivered'",
                    d=dest,
                ).rows()
                for dest in DESTINATIONS
            }
        assert len(logged["tiktok"]) > 0, "the first run was killed before logging anything"
        received_before = emu.stats()["tiktok"]["received"]

        second = subprocess.run(push_command(db, config, clock.isoformat()), env=env,
                                capture_output=True, timeout=120)  # fmt: skip
        assert second.returncode == 0, second.stderr.decode()[-2000:]
        assert emu.stats()["tiktok"]["received"] > received_before

        with tw.connect(db, config=config) as wh:
            for dest in DESTINATIONS:
                records = emu.records(dest)
                for kind, payload in logged[dest]:
                    assert records[dedup_identity(dest, kind, orjson.loads(payload))] == 1
                ready = wh.sql(
                    f"select request_kind, payload::varchar from {PAYLOAD_TABLES[dest]} "
                    "where status = 'ready'"
                ).rows()
                expected = {dedup_identity(dest, k, orjson.loads(p)) for k, p in ready}
                assert set(records) == expected, dest
                assert emu.stats()[dest]["unique"] == len(expected)
                delivered = wh.deliveries(dest, outcome="delivered").height
                assert delivered == len(ready), dest
            rec = wh.reconcile()
            assert all(problem.split(":")[0] not in DESTINATIONS for problem in rec.problems)
            pushed = rec.totals().filter(pl.col("destination").is_in(DESTINATIONS))
            assert pushed.select(list(UNSETTLED)).sum_horizontal().sum() == 0, pushed
