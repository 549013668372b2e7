"""Checks on what an ingest run loaded: the accounting adds up, stored events match the
pandera schema, and the quarantine rate stays under a threshold (WARN)."""

from collections.abc import Sequence

import dagster as dg

from dagster_defs.lib.metadata import json_value, markdown_table
from trackstack_wh import Warehouse
from trackstack_wh.health import accounting_breaks, quarantine_rate, stored_event_failures

QUARANTINE_RATE_LIMIT = 0.05
"""More than 5% of a run's records quarantined is worth a look."""

SPECS = [
    dg.AssetCheckSpec(
        "accounting_adds_up",
        asset="landed_batches",
        description="Every record is in events, quarantine or duplicates, exactly once.",
    ),
    dg.AssetCheckSpec(
        "schema", asset="events", description="Stored events pass the contract's pandera schema."
    ),
    dg.AssetCheckSpec(
        "quarantine_rate",
        asset="quarantine",
        description=f"At most {QUARANTINE_RATE_LIMIT:.0%} of the run's records quarantined.",
    ),
]


def accounting_adds_up(wh: Warehouse, batch_ids: Sequence[str]) -> dg.AssetCheckResult:
    breaks = accounting_breaks(wh.conn, batch_ids)
    return dg.AssetCheckResult(
        check_name="accounting_adds_up",
        asset_key="landed_batches",
        passed=breaks.height == 0,
        metadata={
            "batches_checked": len(batch_ids),
            "batches_not_adding_up": breaks.height,
            "sample": markdown_table(breaks),
        },
    )


def schema(wh: Warehouse, batch_ids: Sequence[str]) -> dg.AssetCheckResult:
    failures = stored_event_failures(wh.conn, batch_ids)
    counts = failures.explode("reasons").group_by("reasons").len().sort("len", descending=True)
    return dg.AssetCheckResult(
        check_name="schema",
        asset_key="events",
        passed=failures.height == 0,
        metadata={
            "n_failures": failures.height,
            "error_counts": json_value(dict(counts.iter_rows())),
            "sample": json_value(failures.head(20).to_dicts()),
        },
    )


def quarantine_rate_check(wh: Warehouse, batch_ids: Sequence[str]) -> dg.AssetCheckResult:
    rate = quarantine_rate(wh.conn, batch_ids)
    reasons = wh.sql(
        "select reason, count(*)::bigint as records from quarantine "
        "where batch_id in (select unnest($b::varchar[])) group by 1 order by 2 desc",
        b=list(batch_ids),
    )
    return dg.AssetCheckResult(
        check_name="quarantine_rate",
        asset_key="quarantine",
        passed=rate.rate <= QUARANTINE_RATE_LIMIT,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "rows_in": rate.rows_in,
            "quarantined": rate.quarantined,
            "rate": dg.MetadataValue.float(round(rate.rate, 4)),
            "threshold": dg.MetadataValue.float(QUARANTINE_RATE_LIMIT),
            "reasons": markdown_table(reasons, rows=10),
        },
    )
