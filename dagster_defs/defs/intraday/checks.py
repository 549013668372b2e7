"""The intraday asset's checks besides ``all_destinations_sending``: every enabled
destination's credentials, tried before anything is sent, and every destination's
freshness (pipeline lag to delivery, oldest waiting row, landing segments held back)
against its ``[freshness]`` limit. Both WARN: a destination whose credentials fail is
halted by the push on its own, and the others still send."""

import dagster as dg
import polars as pl

from dagster_defs.lib.metadata import json_value, markdown_table
from trackstack_wh.delivery.credentials import CredentialCheck
from trackstack_wh.reports.freshness import FreshnessVerdict

ASSET = "intraday_delivery"
CREDENTIALS = "credentials_valid"
FRESHNESS = "fresh_enough"

specs = [
    dg.AssetCheckSpec(
        CREDENTIALS,
        asset=ASSET,
        description="Before the push: each enabled destination's credentials answer the "
        "platform's cheapest authenticated call (missing, expired, revoked, scope and "
        "unreachable told apart, each with its fix); a failing destination is halted, not sent.",
    ),
    dg.AssetCheckSpec(
        FRESHNESS,
        asset=ASSET,
        description="Per destination: pipeline lag p95 to delivery, the oldest ready row "
        "waiting and the landing's held segments stay under the [freshness] limit "
        "(default 1 hour for ad platforms, 24 hours for CRMs).",
    ),
]


def _warning(
    check: str, label: str, problems: dict[str, str], table: pl.DataFrame
) -> dg.AssetCheckResult:
    """A WARN check: passed without ``problems`` (under ``label``), one table row per
    destination."""
    return dg.AssetCheckResult(
        check_name=check,
        asset_key=ASSET,
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={label: json_value(problems), "destinations": markdown_table(table, rows=20)},
    )


def credentials_result(checks: list[CredentialCheck]) -> dg.AssetCheckResult:
    failed = {c.destination: f"{c.status}: {c.fix or c.message}" for c in checks if not c.ok}
    table = pl.DataFrame(
        [{"destination": c.destination, "status": c.status, "auth": c.auth,
          "message": c.message, "fix": c.fix} for c in checks],
        schema=dict.fromkeys(("destination", "status", "auth", "message", "fix"), pl.String),
    )  # fmt: skip
    return _warning(CREDENTIALS, "failed", failed, table)


def freshness_result(verdicts: list[FreshnessVerdict]) -> dg.AssetCheckResult:
    stale = {v.destination: v.explanation for v in verdicts if not v.passed}
    table = pl.DataFrame(
        [{"destination": v.destination, "status": v.status,
          "warn_after_s": v.warn_after_seconds, "explanation": v.explanation} for v in verdicts],
        schema={"destination": pl.String, "status": pl.String, "warn_after_s": pl.Float64,
                "explanation": pl.String},
    )  # fmt: skip
    return _warning(FRESHNESS, "stale", stale, table)
