"""``[freshness]``: how stale a destination's deliveries may get before checks warn.

    [freshness]
    warn_minutes = 60             # ad platforms (Meta asks for sends within an hour)
    crm_warn_minutes = 1440       # HubSpot and Salesforce

    [freshness.destinations]      # per destination, in minutes, over the two above
    hubspot = 240
    meta = 30

A destination is judged ``warn`` when our pipeline lag to delivery (p95, from when an
event landed) or the oldest ready row still waiting, or the events held in the sink's
landing directory, are older than its limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trackstack_wh.config.checks import KeyTypes, only_keys
from trackstack_wh.config.destinations import CRM_DESTINATIONS, DESTINATIONS
from trackstack_wh.errors import ConfigError

FRESHNESS_KEYS: KeyTypes = {
    "warn_minutes": (int, float),
    "crm_warn_minutes": (int, float),
    "destinations": dict,
}
AD_WARN_MINUTES = 60.0
CRM_WARN_MINUTES = 24 * 60.0
MAX_MINUTES = 10 * 365 * 24 * 60


@dataclass(frozen=True)
class FreshnessThresholds:
    """Warn limits in minutes: ad platforms, CRMs, and per-destination overrides."""

    warn_minutes: float = AD_WARN_MINUTES
    crm_warn_minutes: float = CRM_WARN_MINUTES
    destinations: Mapping[str, float] = field(default_factory=dict)

    def warn_after(self, destination: str) -> dt.timedelta:
        """How old a destination's deliveries (or waiting rows) may get."""
        minutes = self.destinations.get(destination)
        if minutes is None:
            minutes = (
                self.crm_warn_minutes if destination in CRM_DESTINATIONS else self.warn_minutes
            )
        return dt.timedelta(minutes=minutes)


def parse_freshness(where: str, raw: Mapping[str, Any]) -> FreshnessThresholds:
    """Validate ``[freshness]`` (``where`` names the file in errors)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: freshness must be a table")
    only_keys(where, "freshness.", raw, FRESHNESS_KEYS)
    for key in ("warn_minutes", "crm_warn_minutes"):
        if key in raw:
            _minutes(where, f"freshness.{key}", raw[key])
    overrides = raw.get("destinations", {})
    unknown = sorted(set(overrides) - set(DESTINATIONS))
    if unknown:
        raise ConfigError(
            f"{where}: freshness.destinations: unknown destination(s) {unknown}; "
            f"allowed: {sorted(DESTINATIONS)}"
        )
    per_destination = {
        name: _minutes(where, f"freshness.destinations.{name}", value)
        for name, value in overrides.items()
    }
    defaults = FreshnessThresholds()
    return FreshnessThresholds(
        float(raw.get("warn_minutes", defaults.warn_minutes)),
        float(raw.get("crm_warn_minutes", defaults.crm_warn_minutes)),
        per_destination,
    )


def _minutes(where: str, key: str, value: Any) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value <= MAX_MINUTES:
        raise ConfigError(
            f"{where}: {key} must be a number of minutes above 0 and at most {MAX_MINUTES:,} "
            f"(10 years), got {value!r}"
        )
    return float(value)
