"""Destination name -> its payload spec builder."""

from __future__ import annotations

from collections.abc import Callable

from trackstack_wh.destinations.config import Destination
from trackstack_wh.payloads import (
    google_ads,
    hubspot,
    linkedin,
    meta,
    reddit,
    salesforce,
    snapchat,
    tiktok,
)
from trackstack_wh.payloads.spec import PayloadSpec

BUILDERS: dict[str, Callable[[Destination], PayloadSpec]] = {
    "meta": meta.spec,
    "google_ads": google_ads.spec,
    "linkedin": linkedin.spec,
    "tiktok": tiktok.spec,
    "snapchat": snapchat.spec,
    "reddit": reddit.spec,
    "hubspot": hubspot.spec,
    "salesforce": salesforce.spec,
}

PAYLOAD_TABLES = {
    "meta": "capi_meta",
    "google_ads": "capi_google_ads",
    "linkedin": "capi_linkedin",
    "tiktok": "capi_tiktok",
    "snapchat": "capi_snapchat",
    "reddit": "capi_reddit",
    "hubspot": "crm_hubspot",
    "salesforce": "crm_salesforce",
}


def payload_spec(dest: Destination) -> PayloadSpec:
    """The payload spec of an enabled destination."""
    return BUILDERS[dest.name](dest)
