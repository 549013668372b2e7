"""Google Ads: the Data Manager ``events:ingest`` route, the two Google Ads API upload
routes and the upload summary query (``googleAds:search``), all under one destination.
Any ``v<N>`` version segment is served (each API's version is configured on its own);
another segment is not a route (404)."""

from __future__ import annotations

from trackstack_lab.emulator.platforms import google_rpc
from trackstack_lab.emulator.platforms.google_data_manager import handle_ingest
from trackstack_lab.emulator.platforms.google_uploads import (
    handle_adjustments,
    handle_click_conversions,
)
from trackstack_lab.emulator.readback import upload_summary
from trackstack_lab.emulator.wire import Platform, route

VERSION = r"/(?P<version>v\d+)"
CUSTOMER = VERSION + r"/customers/(?P<cid>\d+)"

PLATFORM = Platform(
    name="google_ads",
    routes=(
        route(VERSION + "/events:ingest", post=handle_ingest),
        route(CUSTOMER + ":uploadClickConversions", post=handle_click_conversions),
        route(CUSTOMER + ":uploadConversionAdjustments", post=handle_adjustments),
        route(CUSTOMER + "/googleAds:search", counted=False, post=upload_summary),
    ),
    auth_error=google_rpc.auth_error,
    rate_limited=google_rpc.rate_limited,
    throttled=google_rpc.rate_limited,
    server_error=google_rpc.server_error,
)
