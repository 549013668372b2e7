"""Delivery settings per destination: pacing, batching, retries, and the sending mode."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trackstack_wh.config import Destination
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
    "posthog": 20.0,
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
    max_runs: int = 5
    """Runs that may end a row ``failed`` (retries out for a transient reason) before
    only ``retry_failed`` resends it; each later run waits ``run_retry_*`` first."""
    run_retry_base_seconds: float = 300.0
    run_retry_max_seconds: float = 21600.0
    max_api_share: float = 0.8
    """Salesforce: the share of the org's daily API allowance a push may use up to."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None and (isinstance(value, bool) or value <= 0):
                raise ConfigError(f"delivery.{f.name} must be a positive number, got {value!r}")
        if self.max_api_share > 1:
            raise ConfigError(f"delivery.max_api_share is a share (0-1], got {self.max_api_share}")

    @classmethod
    def for_destination(
        cls, dest: Destination, overrides: Mapping[str, float] | None = None
    ) -> DeliverySettings:
        values: dict[str, Any] = {**dest.delivery, **(overrides or {})}
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"destinations.{dest.name}.delivery: unknown keys {sorted(unknown)}")
        values.setdefault("requests_per_second", REQUESTS_PER_SECOND[dest.name])
        for key in ("concurrency", "batch_size", "max_attempts", "max_runs"):
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


def next_run_retry(settings: DeliverySettings, failed_runs: int) -> float | None:
    """Seconds until a later run may resend a row that has now failed ``failed_runs``
    times (this one included); None once ``max_runs`` is reached."""
    if failed_runs >= settings.max_runs:
        return None
    return min(settings.run_retry_max_seconds,
               settings.run_retry_base_seconds * 2.0 ** (failed_runs - 1))  # fmt: skip
