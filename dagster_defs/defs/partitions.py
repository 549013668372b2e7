"""Daily partitions by event date (UTC); today's partition exists while it fills.

The first day is a constant in code, not a setting: the partition set is part of the code
location's definitions, and loading them must read no environment (a partition set that
changed with a variable would also change under existing materializations). To start
elsewhere, change ``FIRST_DAY`` here; days before it can still be loaded and reported by
the library, they just have no partition.
"""

import dagster as dg

FIRST_DAY = "2026-09-01"
"""The first partition: the samples' first day (data/samples start on 2026-09-01)."""

DAILY = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)
