"""Daily partitions by event date (UTC); today's partition exists while it fills."""

import os

import dagster as dg

FIRST_DAY = os.environ.get("TRACKSTACK_FIRST_DAY", "2026-09-01")
"""The first partition ($TRACKSTACK_FIRST_DAY; the samples start on 2026-09-01)."""

DAILY = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)
