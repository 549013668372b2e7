"""Delivery settings per destination: pacing, batching, retries, and the sending mode."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from trackstack_wh.destinations.config import Destination
from trackstack_wh.errors import ConfigError

REQUESTS_PER_SECOND = {
    "meta": 100.0,
    "google_ads": 20.0,
    "linkedin": 10.0,
    "tiktok": 50.0,
    "snapchat": 50.0,
    "reddit": 20.0,
    "hubspot": 19.0,
    "salesforce": 20.0,
}
"""Default request rates. HubSpot allows 190 requests per 10 s per portal and LinkedIn
600 per minute; the others publish no number, so these stay well below what they take."""


@dataclass(frozen=True)
class DeliverySettings:
    """How one destination is pushed (``[destinations.<name>.delivery]`` overrides)."""

    requests_per_second: float
    concurrency: int = 4
    batch_size: int | None = None
    """At most the platform's limit; None sends full batches."""
    max_attempts: int = 5
    timeout_seconds: float = 30.0
    retry_base_seconds: float = 0.5
    retry_max_seconds: float = 30.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and (isinstance(value, bool) or value <= 0):
                raise ConfigError(f"delivery.{f.name} must be a positive number, got {value!r}")

    @classmethod
    def for_destination(
        cls, dest: Destination, overrides: Mapping[str, float] | None = None
    ) -> DeliverySettings:
        values = {**dest.delivery, **(overrides or {})}
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"destinations.{dest.name}.delivery: unknown keys {sorted(unknown)}")
        values.setdefault("requests_per_second", REQUESTS_PER_SECOND[dest.name])
        for key in ("concurrency", "batch_size", "max_attempts"):
            if values.get(key) is not None:
                values[key] = int(values[key])
        return cls(**values)


def sending_mode(dest: Destination) -> str:
    """``validate`` (validate-only: nothing is recorded), ``test`` (a test event code:
    recorded apart from live data) or ``live``. Deliveries count once per mode."""
    if dest.validate_only:
        return "validate"
    if dest.test_event_code:
        return "test"
    return "live"
