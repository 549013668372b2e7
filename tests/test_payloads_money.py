"""Money is exact: a value always travels with its currency (the event's own, else
``workspace.default_currency``), Salesforce Opportunities carry ``CurrencyIsoCode`` and
HubSpot custom events drop the client or server copy of a purchase."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines
from trackstack_wh.config import SalesforceDestination, parse_config
from trackstack_wh.errors import ConfigError
from trackstack_wh.payloads import PAYLOAD_TABLES

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
T = AS_OF - dt.timedelta(days=1)
AD_PLATFORMS = ("meta", "google_ads", "linkedin", "tiktok", "snapchat", "reddit")
VALUE_KEYS = {"value", "conversionValue", "amount", "adjustedValue", "Amount"}
CURRENCY_KEYS = {"currency", "currencyCode", "deal_currency_code", "CurrencyIsoCode"}


PERSON = {"email": "buyer@acme.example", "gclid": "G1", "li_fat_id": "li-1", "lastName": "Lee",
          "companyName": "Acme"}  # fmt: skip
EVENTS = [
    event_line("Purchase", "gbp", T, value=4200, currency="gbp", transactionId="txn_gbp",
           **PERSON, **WEB),
    event_line("StartTrial", "trial", T, value=1250, plan="Pro", **PERSON, **WEB),
    event_line("LeadCaptured", "lead", T, value=300, **PERSON, **WEB),
    event_line("Purchase", "client", T, value=9900, currency="USD", transactionId="txn_dup",
           **PERSON, **WEB),
    event_line("Purchase", "server", T + dt.timedelta(seconds=30), value=9900, currency="USD",
           transactionId="txn_dup", **PERSON),
]  # fmt: skip
MAPPED = ["LeadCaptured", "StartTrial", "Purchase"]


def _config(workspace: dict[str, Any] | None = None, **salesforce: object) -> dict[str, Any]:
    return {
        "workspace": {"value_unit": "minor", **(workspace or {})},
        "destinations": {
            "meta": {"enabled": True, "pixel_id": "123"},
            "google_ads": {
                "enabled": True,
                "customer_id": "123-456-7890",
                "conversion_actions": {name: str(11 + i) for i, name in enumerate(MAPPED)},
            },
            "linkedin": {
                "enabled": True,
                "conversion_rules": {name: str(111 + i) for i, name in enumerate(MAPPED)},
            },
            "tiktok": {"enabled": True, "pixel_code": "PIX"},
            "snapchat": {"enabled": True, "pixel_id": "snap"},
            "reddit": {"enabled": True, "pixel_id": "t2_x"},
            "hubspot": {"enabled": True, "portal_id": "42"},
            "posthog": {"enabled": True},
            "salesforce": {
                "enabled": True,
                "instance_url": "https://acme.my.salesforce.com",
                **salesforce,
            },
        },
    }


def _warehouse(db: Path, config: dict[str, Any], *, no_currency: tuple[str, ...] = ()) -> Any:
    """A warehouse with EVENTS loaded (the ``no_currency`` events losing their currency,
    as a row from before the contract required it would) and payloads built."""
    wh = tw.connect(db, config=parse_config(config))
    if not wh.sql("select count(*) as n from events")["n"][0]:
        report = wh.ingest(write_lines(db.with_suffix(".ndjson"), EVENTS))
        assert report.files[0].rows_valid == len(EVENTS), wh.quarantine()["detail"].to_list()
        wh.conn.execute(
            "update events set currency = null where list_contains($ids::varchar[], event_id)",
            {"ids": list(no_currency)},
        )
    wh.build_payloads(as_of=AS_OF)
    return wh


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """No default currency."""
    wh = _warehouse(tmp_path_factory.mktemp("money") / "wh.duckdb", _config())
    yield wh
    wh.close()


def rows(wh: Any, destination: str, event_id: str, kind: str | None = None) -> list[dict]:
    frame = wh.payloads(destination).filter(event_id=event_id)
    if kind:
        frame = frame.filter(request_kind=kind)
    out = frame.to_dicts()
    for r in out:
        r["body"] = json.loads(r["payload"]) if r["payload"] else None
    return out


def row(wh: Any, destination: str, event_id: str, kind: str | None = None) -> dict:
    found = rows(wh, destination, event_id, kind)
    assert len(found) == 1, found
    return found[0]


def _bare_values(node: object, path: str = "$") -> list[str]:
    """Paths of JSON objects holding a money value but no currency."""
    if isinstance(node, list):
        return [p for i, item in enumerate(node) for p in _bare_values(item, f"{path}[{i}]")]
    if not isinstance(node, dict):
        return []
    found = [f"{path}.{k}" for k, v in node.items() if k in VALUE_KEYS and not isinstance(v, dict)]
    bare = found if not CURRENCY_KEYS & set(node) else []
    return bare + [p for k, v in node.items() for p in _bare_values(v, f"{path}.{k}")]


def _ready_bodies(wh: Any) -> Iterator[tuple[str, str, dict]]:
    for destination in PAYLOAD_TABLES:
        for r in wh.payloads(destination, status="ready").to_dicts():
            yield destination, r["event_id"], json.loads(r["payload"])


def test_a_value_without_currency_is_skipped_by_every_ad_platform(plain: Any) -> None:
    for destination in AD_PLATFORMS:
        found = rows(plain, destination, "trial") + rows(plain, destination, "lead")
        assert found, destination
        assert {(r["status"], r["skip_reason"]) for r in found} == {
            ("skipped", "missing_currency")
        }, destination
    assert row(plain, "linkedin", "gbp")["body"]["conversionValue"] == {
        "currencyCode": "GBP",
        "amount": "42.00",
    }


def test_hubspot_custom_events_keep_the_event_and_drop_a_value_without_currency(
    plain: Any,
) -> None:
    trial = row(plain, "hubspot", "trial", "custom_event")
    assert trial["status"] == "ready"
    assert "value" not in trial["body"]["properties"]
    assert "value_dropped_missing_currency" in trial["warnings"]
    gbp = row(plain, "hubspot", "gbp", "custom_event")["body"]["properties"]
    assert (gbp["value"], gbp["currency"]) == (42.0, "GBP")


def test_no_ready_payload_carries_a_value_without_its_currency(tmp_path: Path) -> None:
    wh = _warehouse(tmp_path / "wh.duckdb", _config(), no_currency=("gbp",))
    with wh:
        bodies = list(_ready_bodies(wh))
        assert {d for d, _, _ in bodies} == set(PAYLOAD_TABLES)
        assert [(d, e, _bare_values(b)) for d, e, b in bodies if _bare_values(b)] == []
        for destination in (*AD_PLATFORMS, "salesforce"):
            assert {r["skip_reason"] for r in rows(wh, destination, "gbp")} == {
                "missing_currency"
            }, destination
        assert row(wh, "hubspot", "gbp", "deal")["skip_reason"] == "missing_currency"


def test_the_default_currency_prices_values_with_its_exponent(tmp_path: Path) -> None:
    with _warehouse(tmp_path / "jpy.duckdb", _config({"default_currency": "JPY"})) as wh:
        trial = row(wh, "linkedin", "trial")
        assert trial["status"] == "ready"
        assert trial["body"]["conversionValue"] == {"currencyCode": "JPY", "amount": "1250"}
        meta = row(wh, "meta", "lead")["body"]["custom_data"]
        assert (meta["value"], meta["currency"]) == (300, "JPY")
        hubspot = row(wh, "hubspot", "trial", "custom_event")["body"]["properties"]
        assert (hubspot["value"], hubspot["currency"]) == (1250, "JPY")
        own = row(wh, "linkedin", "gbp")["body"]["conversionValue"]
        assert own == {"currencyCode": "GBP", "amount": "42.00"}, "the event's own currency wins"
        assert [b for _, _, b in _ready_bodies(wh) if _bare_values(b)] == []
    with _warehouse(tmp_path / "usd.duckdb", _config({"default_currency": "USD"})) as wh:
        amount = row(wh, "linkedin", "trial")["body"]["conversionValue"]
        assert amount == {"currencyCode": "USD", "amount": "12.50"}
        google = row(wh, "google_ads", "trial")["body"]
        assert (google["conversionValue"], google["currency"]) == (12.5, "USD")


def test_changing_the_default_currency_rebuilds_the_rows(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    with _warehouse(db, _config()) as wh:
        assert row(wh, "tiktok", "trial")["skip_reason"] == "missing_currency"
    with tw.connect(db, config=parse_config(_config({"default_currency": "EUR"}))) as wh:
        results = {r.destination: r for r in wh.build_payloads(as_of=AS_OF)}
        assert all(r.rebuilt == r.inserted > 0 for r in results.values())
        properties = row(wh, "tiktok", "trial")["body"]["properties"]
        assert (properties["value"], properties["currency"]) == (12.5, "EUR")


def test_salesforce_opportunities_carry_the_currency_in_a_configurable_field(
    plain: Any, tmp_path: Path
) -> None:
    opportunity = row(plain, "salesforce", "gbp", "opportunity")["body"]
    assert (opportunity["Amount"], opportunity["CurrencyIsoCode"]) == (42.0, "GBP")
    with _warehouse(
        tmp_path / "off.duckdb", _config(currency_field=""), no_currency=("gbp",)
    ) as wh:
        single = row(wh, "salesforce", "gbp", "opportunity")
        assert single["status"] == "ready", "a single-currency org takes the bare amount"
        assert single["body"]["Amount"] == 42.0 and "CurrencyIsoCode" not in single["body"]
        usd = row(wh, "salesforce", "client", "opportunity")["body"]
        assert "CurrencyIsoCode" not in usd and "" not in usd
    with _warehouse(tmp_path / "own.duckdb", _config(currency_field="Currency__c")) as wh:
        custom = row(wh, "salesforce", "gbp", "opportunity")["body"]
        assert custom["Currency__c"] == "GBP" and "CurrencyIsoCode" not in custom


def test_hubspot_client_and_server_copies_give_one_customevent_line(plain: Any) -> None:
    client = row(plain, "hubspot", "client", "custom_event")
    server = row(plain, "hubspot", "server", "custom_event")
    assert client["status"] == "ready" and client["body"]["properties"]["value"] == 99.0
    assert (server["status"], server["duplicate_of"], server["payload"]) == (
        "duplicate",
        "client",
        None,
    )
    assert row(plain, "meta", "server")["status"] == "duplicate", "as the ad platforms do"
    deals = [row(plain, "hubspot", e, "deal") for e in ("client", "server")]
    assert [d["status"] for d in deals] == ["ready", "ready"], "both upsert the same deal"
    assert {d["dedup_key"] for d in deals} == {"txn_dup"}


@pytest.mark.parametrize("value", ["usd", "XYZ", "US", 840])
def test_default_currency_must_be_a_known_iso_code(value: object) -> None:
    with pytest.raises(ConfigError, match="workspace.default_currency"):
        parse_config(_config({"default_currency": value}))


def test_currency_settings_are_read() -> None:
    config = parse_config(_config({"default_currency": "KWD"}, currency_field=""))
    assert config.default_currency == "KWD"
    assert SalesforceDestination.of(config.destinations["salesforce"]).currency_field == ""
    assert parse_config(_config()).default_currency is None
    with pytest.raises(ConfigError, match="currency_field"):
        parse_config(_config(currency_field=True))
