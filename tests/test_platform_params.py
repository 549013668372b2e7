"""platformParams in full: every documented per-platform override is read, validated
set-based and applied; unknown, invalid or ignored keys are warnings in event_quality;
the payload rows and the request preview say which field an override set."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines
from trackstack_wh.cli import main
from trackstack_wh.config import parse_config
from trackstack_wh.destinations.overrides import PARAMS
from trackstack_wh.payloads.conformance import check_conformance

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
T = AS_OF - dt.timedelta(hours=3)
PARAMS_EVENT = {
    "meta": {
        "eventName": "UpgradePurchase", "value": 5000, "currency": "eur",
        "action_source": "system_generated", "optOut": True, "bogus": 1,
        "customData": {"plan_tier": "pro", "value": 1},
    },
    "google_ads": {"sendTo": "777", "value": 2500},
    "linkedin": {"conversionRuleId": "urn:lla:llaPartnerConversion:555", "currency": "GBP"},
    "tiktok": {"eventName": "Subscribe", "properties": {"content_type": "product"}},
    "snapchat": {"eventName": "NOT_A_SNAP_EVENT", "actionSource": "OFFLINE"},
    "reddit": {"eventName": "PlanPurchase", "actionSource": "APP"},
    "hubspot": {"eventName": "plan_purchase", "value": 1},
    "ga4": {"send_to": "G-1"},
}  # fmt: skip
BAD = {
    "meta": {"value": -3, "currency": "XXX", "actionSource": "web", "eventName": ""},
    "google_ads": {"conversionActionId": "AW-123/abc"},
    "tiktok": {"customData": {"note": "mail me at jane@example.com"}},
    "reddit": "APP",
}
EVENTS = [
    event_line("Purchase", "p", T, email="p@acme.example", value=9900, currency="USD",
               transactionId="txn_1", platformParams=PARAMS_EVENT, **WEB),
    event_line("Purchase", "bad", T, email="b@acme.example", value=9900, currency="USD",
               transactionId="txn_2", platformParams=BAD, **WEB),
    event_line("Purchase", "none", T, email="n@acme.example", value=100, currency="USD",
               transactionId="txn_3", **WEB),
]  # fmt: skip
CONFIG: dict[str, Any] = {
    "destinations": {
        "meta": {"enabled": True, "pixel_id": "123"},
        "google_ads": {
            "enabled": True,
            "customer_id": "123-456-7890",
            "conversion_actions": {"Purchase": "12"},
        },  # fmt: skip
        "linkedin": {"enabled": True, "conversion_rules": {"Purchase": "222"}},
        "tiktok": {"enabled": True, "pixel_code": "PIX"},
        "snapchat": {"enabled": True, "pixel_id": "snap"},
        "reddit": {"enabled": True, "pixel_id": "t2_x"},
        "hubspot": {"enabled": True, "portal_id": "42"},
    },
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("params")
    wh = tw.connect(tmp / "wh.duckdb", config=parse_config(CONFIG))
    wh.ingest(write_lines(tmp / "events.ndjson", EVENTS))
    wh.build_payloads(as_of=AS_OF)
    yield wh
    wh.close()


def row(wh: tw.Warehouse, destination: str, event_id: str) -> dict[str, Any]:
    frame = wh.payloads(destination).filter(event_id=event_id, status="ready")
    assert frame.height >= 1, wh.payloads(destination).filter(event_id=event_id)
    out = frame.row(0, named=True)
    out["body"] = json.loads(out["payload"])
    return out


def warnings(wh: tw.Warehouse, event_id: str) -> set[str]:
    return set(wh.quality().filter(event_id=event_id)["warnings"][0])


def test_unknown_invalid_and_ignored_keys_are_warnings(built: tw.Warehouse) -> None:
    assert {
        "platform_param_unknown:meta.bogus",
        "platform_param_unknown:ga4",
        "platform_param_unknown:hubspot.value",
        "platform_param_invalid:snapchat.eventName",
        "platform_param_ignored:meta.customData.value",
    } <= warnings(built, "p")
    assert {
        "platform_param_invalid:meta.value", "platform_param_invalid:meta.currency",
        "platform_param_invalid:meta.actionSource", "platform_param_invalid:meta.eventName",
        "platform_param_invalid:google_ads.conversionActionId",
        "platform_param_ignored:tiktok.customData.note", "platform_param_invalid:reddit",
    } <= warnings(built, "bad")  # fmt: skip
    assert not {w for w in warnings(built, "none") if w.startswith("platform_param")}


def test_meta_overrides_are_applied(built: tw.Warehouse) -> None:
    r = row(built, "meta", "p")
    body = r["body"]
    assert r["platform_event_name"] == "UpgradePurchase" and body["event_name"] == "UpgradePurchase"
    assert body["action_source"] == "system_generated" and body["opt_out"] is True
    assert body["custom_data"] == {
        "plan_tier": "pro", "value": 50.0, "currency": "EUR", "order_id": "txn_1",
    }  # fmt: skip
    assert {"param": "meta.value", "field": "custom_data.value", "value": 50.0} in json.loads(
        r["overrides"]
    )


def test_invalid_overrides_are_not_applied(built: tw.Warehouse) -> None:
    body = row(built, "meta", "bad")["body"]
    assert body["event_name"] == "Purchase" and body["action_source"] == "website"
    assert body["custom_data"]["value"] == 99.0 and body["custom_data"]["currency"] == "USD"
    assert row(built, "meta", "bad")["overrides"] is None
    assert row(built, "google_ads", "bad")["body"]["destinationReferences"] == ["12"]
    assert "note" not in row(built, "tiktok", "bad")["body"]["properties"]
    assert row(built, "reddit", "bad")["body"]["action_source"] == "WEBSITE"


def test_other_platforms_read_their_documented_keys(built: tw.Warehouse) -> None:
    google = row(built, "google_ads", "p")["body"]
    assert google["destinationReferences"] == ["777"] and google["conversionValue"] == 25.0
    linkedin = row(built, "linkedin", "p")["body"]
    assert linkedin["conversion"] == "urn:lla:llaPartnerConversion:555"
    assert linkedin["conversionValue"] == {"currencyCode": "GBP", "amount": "99.00"}
    tiktok = row(built, "tiktok", "p")["body"]
    assert tiktok["event"] == "Subscribe" and tiktok["properties"]["content_type"] == "product"
    snap = row(built, "snapchat", "p")["body"]
    assert snap["event_name"] == "PURCHASE" and snap["action_source"] == "OFFLINE"
    reddit = row(built, "reddit", "p")["body"]
    assert reddit["type"] == {"tracking_type": "CUSTOM", "custom_event_name": "PlanPurchase"}
    assert reddit["action_source"] == "APP"
    assert row(built, "hubspot", "p")["platform_event_name"] == "pe42_plan_purchase"


def test_the_preview_shows_where_an_override_changed_a_field(
    built: tw.Warehouse, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    request = built.preview("meta")[0]
    assert set(request.overrides) == {"p"}
    fields = {c["field"]: c["value"] for c in request.overrides["p"]}
    assert fields["event_name"] == "UpgradePurchase" and fields["opt_out"] is True
    assert fields["custom_data"] == {"plan_tier": "pro"}  # the reserved value is not sent
    config = tmp_path / "c.toml"
    config.write_text('[destinations.meta]\nenabled = true\npixel_id = "123"\n')
    db = str(tmp_path / "cli.duckdb")
    events = str(write_lines(tmp_path / "e.ndjson", EVENTS))
    assert main(["--db", db, "--config", str(config), "ingest", events]) == 0
    args = ["--db", db, "--config", str(config), "payloads", "--as-of", AS_OF.isoformat(),
            "--destination", "meta", "--preview", "5"]  # fmt: skip
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "override p: custom_data.value = 50.0 (platformParams.meta.value)" in out


def test_overridden_payloads_conform(built: tw.Warehouse) -> None:
    for destination in ("meta", "google_ads", "linkedin", "tiktok", "snapchat", "reddit"):
        result = check_conformance(built.conn, destination)
        assert result.ok and result.checked > 0, (destination, result.counts())


def test_every_documented_key_has_a_payload_field() -> None:
    for destination, params in PARAMS.items():
        keys = [p.key for p in params]
        assert len(keys) == len(set(keys)) and all(p.field for p in params), destination


RESERVED = {"value": 999999, "currency": "FAKE", "order_id": "x", "num_items": 7}
CUSTOM = {
    "meta": {**RESERVED, "content_ids": ["c"], "content_name": "n", "content_category": "k"},
    "tiktok": {**RESERVED, "description": "d"},
    "snapchat": {**RESERVED, "content_ids": ["c"]},
}
PERSONAL = {
    "plan_tier": "pro", "sku": "4155550123", "renewal": "2026-10-27",
    "em": "x", "First Name": "Pat", "customer_email": "x", "phone_number": "x", "zip": "x",
    "city": "x", "street": "x", "billingAddress": "x", "dob": "x", "ip": "x",
    "note": "mail pat@acme.example", "contact": "+1 (415) 555-0123", "alt": "020 7946 0958",
    "buyer": {"name": {"lastName": "Lee"}}, "phones": ["+44 20 7946 0958"],
}  # fmt: skip
PERSONAL_KEYS = set(PERSONAL) - {"plan_tier", "sku", "renewal"}


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A SignUp whose customData holds only the fields TrackStack builds itself, and a
    Purchase whose customData holds person fields."""
    tmp = tmp_path_factory.mktemp("custom")
    lines = [
        event_line("SignUp", "reserved", T, email="r@acme.example", **WEB,
                   platformParams={d: {"customData": c} for d, c in CUSTOM.items()}),
        event_line("Purchase", "personal", T, email="q@acme.example", value=100,
                   currency="USD", transactionId="txn_9", **WEB,
                   platformParams={d: {"customData": PERSONAL} for d in CUSTOM}),
    ]  # fmt: skip
    wh = tw.connect(tmp / "wh.duckdb", config=parse_config(CONFIG))
    wh.ingest(write_lines(tmp / "events.ndjson", lines))
    wh.build_payloads(as_of=AS_OF)
    yield wh
    wh.close()


OBJECT_FIELD = {"meta": "custom_data", "tiktok": "properties", "snapchat": "custom_data"}


@pytest.mark.parametrize("destination", sorted(CUSTOM))
def test_reserved_custom_data_keys_never_reach_the_payload(
    custom: tw.Warehouse, destination: str
) -> None:
    r = row(custom, destination, "reserved")
    sent = r["body"].get(OBJECT_FIELD[destination]) or {}
    assert not set(CUSTOM[destination]) & set(sent), sent  # a SignUp has no value
    assert "FAKE" not in r["payload"] and "999999" not in r["payload"]
    assert r["overrides"] is None  # nothing of the object was applied
    expected = {f"platform_param_ignored:{destination}.customData.{k}" for k in CUSTOM[destination]}
    assert expected <= warnings(custom, "reserved")
    purchase = row(custom, destination, "personal")["body"][OBJECT_FIELD[destination]]
    assert purchase["value"] == 1.0 and purchase["currency"] == "USD"


@pytest.mark.parametrize("destination", sorted(CUSTOM))
def test_person_fields_in_custom_data_are_dropped_and_warned(
    custom: tw.Warehouse, destination: str
) -> None:
    r = row(custom, destination, "personal")
    sent = r["body"][OBJECT_FIELD[destination]]
    assert {"plan_tier": "pro", "sku": "4155550123", "renewal": "2026-10-27"}.items() <= (
        sent.items()
    )
    assert not PERSONAL_KEYS & set(sent), sent
    for text in ("pat@acme.example", "555-0123", "7946", "Lee", "Pat"):
        assert text not in r["payload"], text
    applied = {o["param"]: o["value"] for o in json.loads(r["overrides"])}
    assert applied[f"{destination}.customData"] == {
        "plan_tier": "pro", "sku": "4155550123", "renewal": "2026-10-27",
    }  # fmt: skip
    expected = {f"platform_param_ignored:{destination}.customData.{k}" for k in PERSONAL_KEYS}
    found = warnings(custom, "personal")
    assert expected <= found
    assert not any("pat@acme.example" in w for w in found)
