"""One version setting per platform API, the shipped sunset table, and refusing sunset
versions (config validation, request URLs and headers, preview, emulator routes)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import trackstack_wh as tw
from tests.helpers import write_lines
from trackstack_lab.emulator import create_app
from trackstack_wh.cli import main
from trackstack_wh.config import Destination, parse_config
from trackstack_wh.destinations.mapping import DESTINATIONS
from trackstack_wh.errors import ConfigError
from trackstack_wh.payloads import versions
from trackstack_wh.payloads.requests import ENDPOINTS, endpoint_headers, endpoint_url

RELEASED = dt.date(2026, 12, 2)
"""When the defaults were chosen."""
GOOGLE = {"enabled": True, "customer_id": "123-456-7890"}


def _dest(name: str, **raw: Any) -> Destination:
    base = {"google_ads": GOOGLE, "linkedin": {"enabled": True}}.get(name, {})
    return parse_config({"destinations": {name: {**base, **raw}}}).destinations[name]


def _url(dest: Destination, kind: str) -> str:
    return endpoint_url(ENDPOINTS[(dest.name, kind)], dest)


@pytest.mark.parametrize("today", [RELEASED, dt.datetime.now(dt.UTC).date()])
def test_no_default_version_is_sunset(today: dt.date) -> None:
    """Fails (for today) once a shipped default passes its sunset: time to bump it."""
    for api in versions.APIS.values():
        assert versions.sunset_problem(api.name, api.default, today) is None, api.name
    for name in DESTINATIONS:
        assert versions.sunset_problems(Destination(name), today) == []


def test_every_versioned_endpoint_names_an_api_of_its_destination() -> None:
    for (destination, kind), endpoint in ENDPOINTS.items():
        if "{version}" in endpoint.url or destination == "linkedin":
            assert versions.APIS[endpoint.api].destination == destination, kind
        else:
            assert endpoint.api == "", kind


def test_google_ads_api_and_data_manager_are_versioned_independently() -> None:
    default = _dest("google_ads")
    assert _url(default, "event") == "https://datamanager.googleapis.com/v1/events:ingest"
    for kind, method in (
        ("click_conversion", "uploadClickConversions"),
        ("conversion_adjustment", "uploadConversionAdjustments"),
    ):
        assert _url(default, kind) == (
            f"https://googleads.googleapis.com/v26/customers/1234567890:{method}"
        )
        pinned = _dest("google_ads", api_versions={"google_ads_api": "v24", "data_manager": "v1"})
        assert _url(pinned, kind).startswith("https://googleads.googleapis.com/v24/customers/")
        assert _url(pinned, "event").startswith("https://datamanager.googleapis.com/v1/")
    assert versions.versions_in_use(default) == {"google_ads_api": "v26", "data_manager": "v1"}
    assert versions.kind_versions(default) == {
        "event": ("data_manager", "v1"),
        "conversion_adjustment": ("google_ads_api", "v26"),
    }
    classic = _dest("google_ads", api="upload_click_conversions")
    assert versions.versions_in_use(classic) == {"google_ads_api": "v26"}
    assert set(versions.kind_versions(classic)) == {"click_conversion", "conversion_adjustment"}


@pytest.mark.parametrize(
    ("destination", "raw", "message"),
    [
        ("google_ads", {"api_versions": {"meta_graph": "v26.0"}},
         "unknown key destinations.google_ads.api_versions.meta_graph; allowed: "
         "google_ads_api, data_manager"),
        ("meta", {"api_versions": {"graph": "v26.0"}},
         "unknown key destinations.meta.api_versions.graph; allowed: meta_graph"),
        ("google_ads", {"api_versions": {"google_ads_api": "24"}},
         "destinations.google_ads.api_versions.google_ads_api = '24' is not a Google Ads API "
         "(googleads.googleapis.com) version (like 'v26')"),
        ("google_ads", {"api_versions": {"data_manager": 1}},
         "destinations.google_ads.api_versions.data_manager = 1 is not a"),
        ("meta", {"api_version": "v25"}, "destinations.meta.api_version = 'v25' is not a Meta"),
        ("linkedin", {"api_versions": {"linkedin": "2026-03"}}, "(like '202603')"),
        ("linkedin", {"api_versions": {"linkedin": "202613"}}, "is not a LinkedIn"),
        ("google_ads", {"api_version": "v24"},
         "destinations.google_ads.api_version is ambiguous: google_ads calls 2 APIs with their "
         "own versions; set destinations.google_ads.api_versions.google_ads_api = 'v26' and "
         "destinations.google_ads.api_versions.data_manager = 'v1' instead"),
        ("meta", {"api_version": "v26.0", "api_versions": {"meta_graph": "v26.0"}},
         "keep only destinations.meta.api_versions.meta_graph"),
        ("meta", {"api_versions": "v26.0"}, "destinations.meta.api_versions must be dict"),
    ],
)  # fmt: skip
def test_version_settings_are_validated(destination: str, raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        _dest(destination, **raw)
    assert message in str(error.value)


def test_single_api_destinations_keep_api_version() -> None:
    meta = _dest("meta", pixel_id="1", api_version="v25.0")
    assert meta.api_versions == {"meta_graph": "v25.0"}
    assert _url(meta, "event").startswith("https://graph.facebook.com/v25.0/1/events?")
    hubspot = _dest("hubspot", api_versions={"hubspot_events": "2026-03"})
    assert _url(hubspot, "custom_event") == "https://api.hubapi.com/events/2026-03/send/batch"
    assert _url(hubspot, "deal") == "https://api.hubapi.com/crm/v3/objects/deals/batch/upsert"
    salesforce = _dest("salesforce", instance_url="https://acme.my.salesforce.com")
    assert "/services/data/v66.0/composite/sobjects/Lead/" in _url(salesforce, "lead")


def test_linkedin_sends_its_own_version_header() -> None:
    endpoint = ENDPOINTS[("linkedin", "event")]
    assert endpoint_headers(endpoint, _dest("linkedin"))["LinkedIn-Version"] == "202603"
    pinned = _dest("linkedin", api_versions={"linkedin": "202601"})
    assert endpoint_headers(endpoint, pinned)["LinkedIn-Version"] == "202601"
    assert _url(pinned, "event") == "https://api.linkedin.com/rest/conversionEvents"


def test_a_sunset_version_names_the_setting_to_change() -> None:
    assert versions.sunset_problem("google_ads_api", "v22", RELEASED) == (
        "google_ads_api v22 was sunset on 2026-10-07; "
        "set destinations.google_ads.api_versions.google_ads_api to v26 or later"
    )
    endpoint = ENDPOINTS[("google_ads", "conversion_adjustment")]
    assert versions.sunset_problem(endpoint, "v22", dt.date(2026, 10, 6)) is None
    assert versions.sunset_problem(endpoint, "v13", RELEASED).startswith(
        "google_ads_api v13 was sunset by 2024-06-05 (older than v14, sunset then)"
    )
    old = _dest("google_ads", api_versions={"google_ads_api": "v22"})
    assert versions.sunset_problems(old, dt.datetime(2026, 12, 2, tzinfo=dt.UTC)) == [
        versions.sunset_problem("google_ads_api", "v22", RELEASED)
    ]
    meta = _dest("meta", api_version="v25.0")
    assert versions.sunset_problems(meta, RELEASED) == []
    assert versions.sunset_problems(meta, dt.date(2027, 2, 23)) == [
        "meta_graph v25.0 was sunset on 2027-02-23; "
        "set destinations.meta.api_version to v26.0 or later"
    ]


def test_linkedin_versions_sunset_on_the_announced_date_or_about_a_year_later() -> None:
    assert versions.sunset_problem("linkedin", "202511", dt.date(2026, 11, 15)) is None
    assert versions.sunset_problem("linkedin", "202511", dt.date(2026, 11, 16)).startswith(
        "linkedin 202511 was sunset on 2026-11-16; set "
        "destinations.linkedin.api_versions.linkedin to 202603 or later"
    )
    assert versions.sunset_of("linkedin", "202412") == versions.Sunset(
        dt.date(2026, 1, 1), versions.LINKEDIN_RULE
    )
    assert versions.sunset_of("linkedin", "202612").date == dt.date(2028, 1, 1)
    assert versions.describe_versions(_dest("linkedin"), RELEASED) == (
        "API versions: linkedin 202603 (sunsets 2027-03-16)"
    )
    assert versions.sunset_of("salesforce_rest", "v62.0") is None
    assert versions.sunset_of("salesforce_rest", "v30.0").date == dt.date(2025, 7, 1)
    assert versions.sunset_of("google_ads_api", "latest") is None


EVENTS = [
    json.dumps(e)
    for e in (
        {"event": "Purchase", "eventId": "p1", "ts": "2026-11-30T10:00:00+00:00",
         "email": "jane@example.com", "gclid": "G1", "value": 9900, "currency": "USD",
         "transactionId": "txn_1", "pageUrl": "https://app.example.com/p"},
        {"event": "Refund", "eventId": "r1", "ts": "2026-11-30T12:00:00+00:00",
         "email": "jane@example.com", "value": 9900, "currency": "USD",
         "transactionId": "txn_1", "refundId": "re_1"},
    )
]  # fmt: skip
GOOGLE_TOML = """
[destinations.google_ads]
enabled = true
customer_id = "123-456-7890"
events = ["Purchase", "Refund"]
conversion_actions = { Purchase = "12" }
"""


def _preview(tmp_path: Path, toml: str, capsys: pytest.CaptureFixture[str]) -> Any:
    tmp_path.mkdir()
    config = tmp_path / "trackstack.toml"
    config.write_text(toml)
    db = tmp_path / "wh.duckdb"
    with tw.connect(db, config=config) as wh:
        wh.ingest(write_lines(tmp_path / "events.ndjson", EVENTS))
    code = main(["--db", str(db), "--config", str(config), "payloads", "--destination",
                 "google_ads", "--as-of", "2026-12-01T12:00", "--preview", "5"])  # fmt: skip
    return code, capsys.readouterr()


def test_preview_shows_the_versions_and_refuses_a_sunset_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = _preview(tmp_path / "ok", GOOGLE_TOML, capsys)
    assert code == 0, out.err
    assert "google_ads API versions: google_ads_api v26, data_manager v1" in out.out
    assert "POST https://datamanager.googleapis.com/v1/events:ingest" in out.out
    adjustments = "POST https://googleads.googleapis.com/v26/customers/1234567890:upload"
    assert adjustments + "ConversionAdjustments" in out.out
    sunset = GOOGLE_TOML + '\n[destinations.google_ads.api_versions]\ngoogle_ads_api = "v22"\n'
    code, out = _preview(tmp_path / "sunset", sunset, capsys)
    assert code == 2
    assert "google_ads_api v22 (sunset 2026-10-07)" in out.out
    assert "error: google_ads_api v22 was sunset on 2026-10-07; set " in out.err
    assert "POST " not in out.out


def test_the_emulator_serves_any_google_ads_api_version() -> None:
    async def status(path: str) -> int:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as client:
            response = await client.post(path, json={"conversions": []})
            return response.status_code

    for version in ("v22", "v24", "v26", "v30"):
        path = f"/google_ads/{version}/customers/1234567890:uploadClickConversions"
        assert asyncio.run(status(path)) != 404, version
    assert asyncio.run(status("/google_ads/latest/customers/1:uploadClickConversions")) == 404
    assert asyncio.run(status("/google_ads/v1/events:ingest")) != 404
