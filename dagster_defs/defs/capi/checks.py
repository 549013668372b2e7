"""Checks next to the payload and delivery assets: payload rows conform to their
platform's rules (ERROR), and the delivery success rate stays over a threshold (WARN)."""

import dagster as dg

from dagster_defs.lib.metadata import json_value, markdown_table
from trackstack_wh import TimeWindow, Warehouse
from trackstack_wh.health import delivery_outcomes
from trackstack_wh.payloads.conformance import check_conformance

SUCCESS_RATE_FLOOR = 0.95
"""Below 95% delivered among rows with a final answer is worth a look."""


def conforms_spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "conforms",
        asset=asset,
        description="Ready rows carry the platform's time unit, dedup key and SHA-256 "
        "identifiers, and no readable email goes to an ad platform.",
    )


def success_rate_spec(asset: str) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        "success_rate",
        asset=asset,
        description=f"At least {SUCCESS_RATE_FLOOR:.0%} of the rows answered were delivered "
        "(rows past the platform's age limit are skips, not failures).",
    )


def conforms(
    wh: Warehouse, asset: str, destination: str, window: TimeWindow | None
) -> dg.AssetCheckResult:
    result = check_conformance(wh.conn, destination, window)
    return dg.AssetCheckResult(
        check_name="conforms",
        asset_key=asset,
        passed=result.ok,
        metadata={
            "ready_rows_checked": result.checked,
            "n_failures": result.problems.height,
            "error_counts": json_value(result.counts()),
            "sample": markdown_table(result.problems, rows=20),
        },
    )


def success_rate(
    wh: Warehouse, asset: str, destination: str, mode: str, target: str, window: TimeWindow | None
) -> dg.AssetCheckResult:
    outcomes = delivery_outcomes(wh.conn, destination, mode=mode, target=target, window=window)
    rate = outcomes.success_rate
    return dg.AssetCheckResult(
        check_name="success_rate",
        asset_key=asset,
        passed=rate is None or rate >= SUCCESS_RATE_FLOOR,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "success_rate": dg.MetadataValue.float(round(rate, 4) if rate is not None else 1.0),
            "rows_answered": outcomes.settled,
            "too_old_skipped": outcomes.too_old,
            "threshold": dg.MetadataValue.float(SUCCESS_RATE_FLOOR),
            "outcomes": markdown_table(outcomes.counts, rows=20),
        },
    )
