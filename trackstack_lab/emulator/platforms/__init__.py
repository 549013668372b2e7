"""Every emulated destination, by the name that prefixes its routes."""

from __future__ import annotations

from trackstack_lab.emulator.platforms import (
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
from trackstack_lab.emulator.wire import Platform

PLATFORMS: dict[str, Platform] = {
    p.name: p
    for p in (
        meta.PLATFORM,
        google_ads.PLATFORM,
        linkedin.PLATFORM,
        tiktok.PLATFORM,
        snapchat.PLATFORM,
        reddit.PLATFORM,
        hubspot.PLATFORM,
        salesforce.PLATFORM,
        posthog.PLATFORM,
    )
}
