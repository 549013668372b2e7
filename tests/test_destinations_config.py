"""Workspace config validation, routing policy and event mapping (issue 4, first part)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import trackstack_wh as tw
from tests.helpers import write_lines
from trackstack_wh.config import (
    Destination,
    GoogleAdsDestination,
    HubSpotDestination,
    SalesforceDestination,
    parse_config,
)
from trackstack_wh.destinations import build_event_routes, load_config, platform_event_name
from trackstack_wh.errors import ConfigError

ROOT = Path(__file__).parent.parent

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


@pytest.mark.parametrize(
    ("destination", "key", "value"),
    [
        ("meta", "pixel_id", "123/../456"),
        ("meta", "pixel_id", "123 456"),
        ("snapchat", "pixel_id", "a1b2c3d4-0000/events"),
        ("snapchat", "pixel_id", "a1b2..c3d4"),
        ("reddit", "pixel_id", "t2_demo?x=1"),
        ("tiktok", "pixel_code", "C4TEST#PIXEL"),
        ("google_ads", "customer_id", "123-456-789"),
        ("google_ads", "customer_id", "1234567890/x"),
        ("google_ads", "login_customer_id", "manager"),
        ("hubspot", "portal_id", "4455667/"),
        ("salesforce", "instance_url", "https://acme.my.salesforce.com/services"),
        ("salesforce", "instance_url", "http://acme.my.salesforce.com"),
        ("salesforce", "instance_url", "https://acme..salesforce.com"),
        ("salesforce", "instance_url", "https://acme.my.salesforce.com?x=1"),
        ("salesforce", "lead_external_id_field", "Email__c/../x"),
        ("salesforce", "opportunity_external_id_field", ""),
    ],
)
def test_account_ids_that_reach_urls_are_format_checked(
    tmp_path: Path, destination: str, key: str, value: str
) -> None:
    path = _config(tmp_path, f"[destinations.{destination}]\n{key} = {json.dumps(value)}")
    with pytest.raises(ConfigError, match="trackstack.toml") as info:
        load_config(path)
    message = str(info.value)
    assert f"destinations.{destination}.{key} = {value!r} is not a" in message
    assert "(like '" in message, "the error says what is allowed"


@pytest.mark.parametrize(
    ("table", "value"),
    [
        ("google_ads.conversion_actions", "700/000"),
        ("google_ads.conversion_actions", "customers/123/conversionActions/7"),
        ("linkedin.conversion_rules", "18000001 "),
        ("linkedin.conversion_rules", "urn:li:x:1"),
    ],
)
def test_per_event_ids_are_format_checked(tmp_path: Path, table: str, value: str) -> None:
    path = _config(tmp_path, f"[destinations.{table}]\nPurchase = {json.dumps(value)}")
    with pytest.raises(ConfigError, match="trackstack.toml") as info:
        load_config(path)
    assert f"destinations.{table}.Purchase = {value!r} is not a" in str(info.value)


def test_every_id_shape_the_repository_uses_is_accepted() -> None:
    config = load_config(ROOT / "trackstack.toml")
    assert len(config.enabled()) == 9
    ads = GoogleAdsDestination.of(config.destinations["google_ads"])
    assert ads.customer_id == "123-456-7890" and ads.api == "data_manager" and not ads.classic
    raw = {
        "meta": {"pixel_id": "1"},
        "google_ads": {
            "customer_id": "1234567890",
            "login_customer_id": "111-222-3333",
            "conversion_actions": {
                "Purchase": "12",
                "SignUp": "customers/1234567890/conversionActions/700000003",
            },
        },
        "linkedin": {"conversion_rules": {"Purchase": "urn:lla:llaPartnerConversion:123"}},
        "tiktok": {"pixel_code": "PIX"},
        "snapchat": {"pixel_id": "snap"},
        "reddit": {"pixel_id": "t2_x"},
        "hubspot": {"portal_id": "42"},
        "salesforce": {
            "instance_url": "https://acme.my.salesforce.com/",
            "currency_field": "",
            "lead_external_id_field": "Email__c",
        },
    }
    destinations = {name: {"enabled": True, **table} for name, table in raw.items()}
    parsed = parse_config({"destinations": destinations}).destinations
    org = SalesforceDestination.of(parsed["salesforce"])
    assert org.currency_field == "" and org.lead_external_id_field == "Email__c"
    assert org.opportunity_external_id_field == "TrackStack_Order_Id__c", "default kept"
    assert parsed["linkedin"].event_ids() == {"Purchase": "urn:lla:llaPartnerConversion:123"}


def test_typed_destinations_and_their_credential_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = load_config(ROOT / "trackstack.toml")
    envs = config.credential_envs()
    assert envs["google_ads"] == {
        "access_token_env": "TRACKSTACK_GOOGLE_TOKEN",
        "developer_token_env": "TRACKSTACK_GOOGLE_DEVELOPER_TOKEN",
    }
    assert set(envs) == set(config.destinations)
    google = config.destinations["google_ads"]
    assert google.secret_names() == list(envs["google_ads"].values())
    monkeypatch.setenv("TRACKSTACK_GOOGLE_DEVELOPER_TOKEN", "dev")
    assert google.secret("developer_token_env") == "dev"
    assert (
        config.with_secrets({"TRACKSTACK_GOOGLE_DEVELOPER_TOKEN": "handed"})
        .destinations["google_ads"]
        .secret("developer_token_env")
        == "handed"
    )
    bare = HubSpotDestination.of(Destination("hubspot"))
    assert bare.won_stage == "closedwon" and bare.portal_id == ""
    assert Destination("meta").account_settings() == {}
    assert config.destinations["hubspot"].account_settings() == {"portal_id": "4455667"}
    with pytest.raises(TypeError):
        HubSpotDestination.of(google)
    assert parse_config({}).credential_envs() == {}


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


AUTH = """
[destinations.linkedin]
enabled = true
auth = "oauth_refresh"

[destinations.salesforce]
enabled = true
instance_url = "https://acme.my.salesforce.com"
auth = "jwt_bearer"
username = "integration@acme.example"
client_id_env = "ACME_SF_CONSUMER_KEY"

[destinations.google_ads]
enabled = true
customer_id = "123-456-7890"
auth = "service_account"
developer_token_env = "ACME_DEV_TOKEN"
"""


def test_auth_modes_read_their_own_variables_with_platform_defaults(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, AUTH))
    linkedin, salesforce, google = (config.destinations[n] for n in
                                    ("linkedin", "salesforce", "google_ads"))  # fmt: skip
    assert linkedin.credential_envs() == {
        "client_id_env": "TRACKSTACK_LINKEDIN_CLIENT_ID",
        "client_secret_env": "TRACKSTACK_LINKEDIN_CLIENT_SECRET",
        "refresh_token_env": "TRACKSTACK_LINKEDIN_REFRESH_TOKEN",
    }
    assert salesforce.credential_envs() == {
        "client_id_env": "ACME_SF_CONSUMER_KEY",
        "private_key_env": "TRACKSTACK_SALESFORCE_PRIVATE_KEY_FILE",
    }
    assert sorted(google.secret_names()) == [
        "ACME_DEV_TOKEN",
        "TRACKSTACK_GOOGLE_SERVICE_ACCOUNT_FILE",
    ]
    # Credential settings never change what the payloads hold.
    assert salesforce.account_settings() == {"instance_url": "https://acme.my.salesforce.com"}
    assert config.destinations["meta"].auth == "static"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[destinations.meta]\nauth = "oauth_refresh"',
         r"destinations\.meta\.auth = 'oauth_refresh'; allowed: \('static',\)"),
        ('[destinations.salesforce]\nauth = "service_account"',
         r"destinations\.salesforce\.auth = 'service_account'; allowed: "
         r"\('static', 'oauth_refresh', 'jwt_bearer'\)"),
        ('[destinations.linkedin]\ntoken_url = "ftp://x"',
         r"destinations\.linkedin\.token_url = 'ftp://x' is not a http\(s\) URL"),
        ('[destinations.hubspot]\nauth = "oauth_refresh"\nrefresh_token_env = "lower"',
         r"destinations\.hubspot\.refresh_token_env"),
    ],
)  # fmt: skip
def test_bad_auth_settings_name_the_file_the_key_and_what_is_allowed(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = _config(tmp_path, text)
    with pytest.raises(ConfigError, match=rf"{tmp_path}.*{expected}"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[destinations.linkedin]\nauth = "oauth_refresh"\naccess_token_env = "T"',
         r"destinations\.linkedin\.access_token_env is read only with auth = 'static'"),
        ('[destinations.tiktok]\nclient_id_env = "T"',
         r"destinations\.tiktok\.client_id_env is read only with auth = 'oauth_refresh' or "
         r"'jwt_bearer'"),
        ('[destinations.salesforce]\nauth = "jwt_bearer"',
         r"destinations\.salesforce\.username is required with auth = 'jwt_bearer'"),
    ],
)  # fmt: skip
def test_credential_settings_must_go_with_the_auth_mode(
    tmp_path: Path, text: str, expected: str
) -> None:
    with pytest.raises(ConfigError, match=rf"{tmp_path}.*{expected}"):
        load_config(_config(tmp_path, text))
