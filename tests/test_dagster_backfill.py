"""A 30-day backfill with the multiprocess executor and the committed pool settings: no
lock errors, and a notebook reading the warehouse meanwhile neither fails nor stalls it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

import trackstack_wh as tw
from dagster_defs.definitions import defs
from tests.dagster_support import CLOCK, CONFIG, all_assets, make_inbox, resources, unpartitioned
from trackstack_lab.emulator import EmulatorProcess

ROOT = Path(__file__).parent.parent
FIRST, LAST = "2026-09-20", "2026-10-19"


def daily_job() -> dg.JobDefinition:
    """The real definitions' backfill job (rebuilt in each step's subprocess)."""
    return defs().resolve_job_def("daily_job")


class NotebookReader(threading.Thread):
    """Opens the warehouse read-only, queries, closes; again and again."""

    def __init__(self, db: Path) -> None:
        super().__init__(daemon=True)
        self.db, self.stop, self.reads, self.errors, self.longest_wait = db, False, 0, [], 0.0

    def run(self) -> None:
        while not self.stop:
            started = time.monotonic()
            try:
                with tw.connect(self.db, read_only=True, busy_timeout=120) as wh:
                    self.longest_wait = max(self.longest_wait, time.monotonic() - started)
                    wh.sql("select count(*) from delivery_log")
                self.reads += 1
            except Exception as exc:  # recorded and asserted on below
                self.errors.append(repr(exc))
            time.sleep(0.2)


@pytest.mark.slow
def test_thirty_day_backfill_multiprocess_without_lock_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_inbox(tmp_path)
    db = tmp_path / "wh.duckdb"
    with EmulatorProcess(clock=CLOCK) as emulator:
        for name, value in {
            "TRACKSTACK_DB": str(db),
            "TRACKSTACK_CONFIG": str(CONFIG),
            "TRACKSTACK_CLOCK": CLOCK,
            "TRACKSTACK_PLATFORMS": emulator.base_url,
            "TRACKSTACK_EXPORT": str(tmp_path / "export"),
        }.items():
            monkeypatch.setenv(name, value)
        res = resources(tmp_path, emulator.base_url)
        assert dg.materialize(unpartitioned(all_assets()), resources=res).success

        instance_settings = yaml.safe_load((ROOT / "dagster.yaml").read_text())
        reader = NotebookReader(db)
        with dg.instance_for_test(overrides=instance_settings) as instance:
            reader.start()
            result = dg.execute_job(
                dg.reconstructable(daily_job),
                instance=instance,
                tags={
                    "dagster/asset_partition_range_start": FIRST,
                    "dagster/asset_partition_range_end": LAST,
                },
            )
            reader.stop = True
            reader.join(timeout=150)
            failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
            assert result.success, [e.message for e in failures]
            assert not failures
        assert reader.errors == []
        assert reader.reads > 0
        assert reader.longest_wait < 60

    with tw.connect(db, read_only=True) as wh:
        days = wh.sql("select count(distinct day) as n from reconciliation_daily").item()
        exported = len(list((tmp_path / "export" / "events").iterdir()))
    assert days == 30
    assert exported == 30
