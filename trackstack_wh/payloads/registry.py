"""Destination name -> its payload spec."""

from __future__ import annotations

from collections.abc import Callable

from trackstack_wh.config import Destination
from trackstack_wh.payloads import (
    google_ads,
    hubspot,
    linkedin,
    meta,
    posthog,
    reddit,
    salesforce,
    snapchat,
    tiktok,
)
from trackstack_wh.payloads.spec import PAYLOAD_TABLES, PayloadSpec

FIXED: dict[str, PayloadSpec] = {
    s.destination: s for s in (meta.SPEC, linkedin.SPEC, tiktok.SPEC, snapchat.SPEC, reddit.SPEC)
}
"""Destinations whose payloads do not depend on their settings."""

CONFIGURED: dict[str, Callable[[Destination], PayloadSpec]] = {
    "google_ads": google_ads.spec,
    "hubspot": hubspot.spec,
    "salesforce": salesforce.spec,
    "posthog": posthog.spec,
}
"""Destinations whose payloads take account IDs, API choice or field names from config."""

__all__ = ["PAYLOAD_TABLES", "payload_spec"]


def payload_spec(dest: Destination) -> PayloadSpec:
    """The payload spec of an enabled destination."""
    if dest.name in FIXED:
        return FIXED[dest.name]
    return CONFIGURED[dest.name](dest)
