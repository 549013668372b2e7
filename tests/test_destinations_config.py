"""Workspace config validation, routing policy and event mapping (issue 4, first part)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import trackstack_wh as tw
from tests.helpers import write_lines
from trackstack_wh.destinations import build_event_routes, load_config, platform_event_name
from trackstack_wh.errors import ConfigError

GOOD = """
[workspace]
allowed_domains = ["acme.example", "*.acme.example"]
phone_region = "US"
value_unit = "minor"

[destinations.meta]
enabled = true
pixel_id = "1234567890"
base_url = "http://127.0.0.1:8700"
access_token_env = "TRACKSTACK_META_TOKEN"
event_names = { DemoBooked = "Lead" }

[destinations.linkedin]
enabled = true
conversion_rules = { Purchase = "123", SignUp = "456" }

[destinations.hubspot]
enabled = true
portal_id = "999"
events = ["SignUp", "Purchase", "Refund", "Churned"]
"""


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trackstack.toml"
    path.write_text(text)
    return path


def test_a_valid_config_loads_and_secrets_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_config(_config(tmp_path, GOOD))
    assert [d.name for d in config.enabled()] == ["meta", "linkedin", "hubspot"]
    assert config.value_unit == "minor" and config.phone_region == "US"
    meta = config.destinations["meta"]
    assert meta.secret() is None
    monkeypatch.setenv("TRACKSTACK_META_TOKEN", "s3cret")
    assert meta.secret() == "s3cret"
    assert "s3cret" not in repr(config)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[destinations.myspace]\nenabled = true", "unknown destination"),
        (
            "[destinations.meta]\nenabled = true\npixle_id = '1'",
            "unknown key destinations.meta.pixle_id",
        ),
        ("[destinations.meta]\nenabled = true", "pixel_id is required"),
        ("[destinations.meta]\nenabled = 'yes'", "enabled must be bool"),
        (
            "[destinations.meta]\naccess_token_env = 'EAAB-secret-token'",
            "must name an environment variable",
        ),
        ("[destinations.tiktok]\nevents = ['purchase_done']", "neither a canonical event"),
        ("[destinations.reddit]\nbase_url = 'ftp://x'", "not an http(s) URL"),
        ("[workspace]\nvalue_unit = 'cents'", "allowed: ('major', 'minor')"),
        ("[workspace]\nallowed_domains = ['Acme.COM/path']", "not a lowercase domain"),
        ("[destinations.google_ads]\napi = 'soap'", "allowed: ('data_manager'"),
        ("[destinations.meta\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, message: str
) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError, match="trackstack.toml") as info:
        load_config(path)
    assert message in str(info.value)


def test_default_event_mapping_follows_the_platform_tables() -> None:
    assert platform_event_name("meta", "SignUp") == "CompleteRegistration"
    assert platform_event_name("meta", "CheckoutStarted") == "InitiateCheckout"
    assert platform_event_name("meta", "DemoBooked", {"DemoBooked": "Lead"}) == "Lead"
    assert platform_event_name("tiktok", "LeadCaptured") == "Lead"
    assert platform_event_name("snapchat", "AddPaymentInfo") == "ADD_BILLING"
    assert platform_event_name("snapchat", "FeatureUsed") is None
    assert platform_event_name("reddit", "PageView") == "PAGE_VISIT"
    assert platform_event_name("reddit", "StartTrial") == "StartTrial"
    assert platform_event_name("linkedin", "Purchase") is None
    assert platform_event_name("linkedin", "Purchase", {"Purchase": "123"}) == "123"


def test_routing_policy_allowlists_domains_and_mapping(wh: tw.Warehouse, tmp_path: Path) -> None:
    at = dt.datetime(2026, 10, 1, tzinfo=dt.UTC).isoformat()
    events = [
        {"event": "SignUp", "eventId": "signup", "email": "a@b.co",
         "pageUrl": "https://app.acme.example/signup"},
        {"event": "Purchase", "eventId": "buy", "value": 10, "currency": "USD",
         "transactionId": "t1"},
        {"event": "Refund", "eventId": "refund", "value": 10, "currency": "USD",
         "transactionId": "t1"},
        {"event": "PageView", "eventId": "foreign", "pageUrl": "https://evil.example/x"},
        {"event": "FeatureUsed", "eventId": "feature"},
    ]  # fmt: skip
    lines = [json.dumps({**e, "ts": at}) for e in events]
    wh.ingest(write_lines(tmp_path / "e.ndjson", lines), received_at=dt.datetime.now(dt.UTC))
    build_event_routes(wh.conn, load_config(_config(tmp_path, GOOD)))
    routes = {
        (r["event_id"], r["destination"]): (r["reason"], r["platform_event_name"])
        for r in wh.sql("select * from event_routes").to_dicts()
    }
    assert routes["signup", "meta"] == (None, "CompleteRegistration")
    assert routes["buy", "linkedin"] == (None, "123")
    assert routes["refund", "meta"][0] == "not_routed_by_policy"
    assert routes["refund", "hubspot"][0] is None
    assert routes["feature", "hubspot"][0] == "not_in_allowlist"
    assert routes["feature", "linkedin"][0] == "no_event_mapping"
    assert {routes["foreign", d][0] for d in ("meta", "linkedin", "hubspot")} == {
        "domain_not_allowed"
    }
    assert ("signup", "tiktok") not in routes, "disabled destinations get no rows"
    later = json.dumps({"event": "LeadCaptured", "eventId": "later", "email": "c@d.co", "ts": at})
    wh.ingest(write_lines(tmp_path / "later.ndjson", [later]), received_at=dt.datetime.now(dt.UTC))
    routed_later = (
        "select reason, platform_event_name from event_routes "
        "where event_id = 'later' and destination = 'meta'"
    )
    assert wh.sql(routed_later).rows() == [(None, "Lead")], "events loaded later are routed too"
