"""A CRM org's daily API allowance, read as the push goes, so a push never spends it all.

Salesforce counts every API request against the org's rolling 24-hour allowance and
reports the count on every REST response (``Sforce-Limit-Info: api-usage=N/M``) and on
``GET /services/data/vXX.X/limits`` (``DailyApiRequests``). The push reads the usage
before it starts and after every answer, and stops the destination, leaving the rest
pending for a later run, once a configured share of the allowance is used.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from trackstack_wh.delivery.report import DestinationReport
from trackstack_wh.delivery.taxonomy import RATE_LIMITED
from trackstack_wh.delivery.verdicts import Failure

USAGE_HEADER = re.compile(r"api-usage=(\d+)/(\d+)")
QUOTA_CODE = "api_quota"


@dataclass
class ApiUsage:
    """Requests used and allowed today, as the org last reported them."""

    used: int
    allowed: int

    @property
    def share(self) -> float:
        return self.used / self.allowed if self.allowed else 0.0

    def __str__(self) -> str:
        return f"{self.used:,}/{self.allowed:,} ({self.share:.1%})"


def usage_from_headers(headers: Mapping[str, str]) -> ApiUsage | None:
    """``Sforce-Limit-Info`` of a response (header names lower case), when present."""
    match = USAGE_HEADER.search(headers.get("sforce-limit-info", ""))
    return ApiUsage(int(match.group(1)), int(match.group(2))) if match else None


def usage_from_limits(content: bytes) -> ApiUsage | None:
    """``DailyApiRequests`` of a ``/limits`` answer, when it has a readable one."""
    try:
        daily = orjson.loads(content).get("DailyApiRequests") or {}
        allowed, remaining = int(daily["Max"]), int(daily["Remaining"])
    except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return ApiUsage(allowed - remaining, allowed)


def limits_url(upsert_url: str) -> str:
    """The org's ``/limits`` resource beside a composite upsert URL (same version)."""
    base, _, _ = upsert_url.partition("/composite/")
    query = upsert_url.partition("?")[2]
    return f"{base}/limits" + (f"?{query}" if query else "")


def over_share(usage: ApiUsage | None, share: float) -> str | None:
    """The halt message when ``usage`` reached ``share`` of the allowance."""
    if usage is None or usage.share < share:
        return None
    return (
        f"org API usage {usage} reached the {share:.0%} this push may use "
        "(delivery.max_api_share); the remaining rows wait for a later run"
    )


@dataclass
class OrgQuota:
    """One push's view of the org's usage: shown in the report, and the halt once
    ``share`` of the allowance is used."""

    report: DestinationReport
    share: float
    read: bool = False
    """The usage was read before the first request (``/limits``)."""

    def note(self, usage: ApiUsage | None) -> Failure | None:
        """Record ``usage``; the halt failure when it reached the share."""
        if usage is None:
            return None
        self.report.api_usage = str(usage)
        message = over_share(usage, self.share)
        return None if message is None else Failure(RATE_LIMITED, QUOTA_CODE, message)

    def note_limits(
        self, status: int, headers: Mapping[str, str], content: bytes
    ) -> Failure | None:
        """A ``/limits`` answer: its body's usage, else its usage header."""
        usage = usage_from_limits(content) if status == 200 else None
        self.read = self.read or usage is not None
        return self.note(usage or usage_from_headers(headers))
