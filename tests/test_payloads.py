"""Payload tables for the eight destinations, checked against the platform reference:
field names, time units, hashing, dedup key placement, batching limits and gates."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines
from trackstack_wh.cli import main
from trackstack_wh.config import parse_config
from trackstack_wh.destinations.routing import in_part
from trackstack_wh.payloads import PAYLOAD_TABLES, build
from trackstack_wh.payloads.requests import ENDPOINTS, plan_requests

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
T = AS_OF - dt.timedelta(days=1)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


FBC_LATER_MS = int((T + dt.timedelta(hours=1)).timestamp() * 1000)
EVENTS = [
    event_line(
        "SignUp", "signup", T, email="    aBc@gmail.com   ", phone="+1 (650) 555-1212",
        firstName="John", lastName="Doe ", city="Menlo Park", state="California",
        zip=" 94025-1234 ", country="US", fbclid="IwAR1", **WEB,
    ),
    event_line(
        "Purchase", "purchase", T - dt.timedelta(hours=2), email="jane.doe@gmail.com",
        phone="+1-202-555-0146", value=9900, currency="USD", transactionId="txn_100",
        gclid="G1", gbraid="B1", li_fat_id="li-1", ttclid="tt1", firstName="Jane",
        lastName="Doe", country="US", zip="94025", companyName="Acme Inc.",
        platformParams={"linkedin": {"conversionRuleId": "999"}}, **WEB,
    ),
    event_line("Refund", "refund", T, value=4900, currency="USD", transactionId="txn_100",
           refundId="re_1", email="jane.doe@gmail.com"),
    event_line("Purchase", "purchase2", T - dt.timedelta(hours=3), email="b@acme.example",
           value=1000, currency="USD", transactionId="txn_200", **WEB),
    event_line("Chargeback", "chargeback", T, value=1000, currency="USD", transactionId="txn_200",
           refundId="re_2", email="b@acme.example"),
    event_line("Purchase", "yen", T, email="yen@acme.example", value=1250, currency="JPY",
           transactionId="txn_300", **WEB),
    event_line("LeadCaptured", "old", AS_OF - dt.timedelta(days=10), email="old@acme.example",
               **WEB),
    event_line("LeadCaptured", "future", AS_OF + dt.timedelta(days=1), email="f@acme.example",
               **WEB),
    event_line("PageView", "late_fbc", T, email="fbc@acme.example",
           fbc=f"fb.1.{FBC_LATER_MS}.abc", **WEB),
    event_line("SignUp", "braids", T, email="braid@acme.example", gbraid="B2", wbraid="W2", **WEB),
    event_line("LeadCaptured", "reddit", T, email="Al.ice$+Apple@Example.Com", **WEB),
    event_line("SignUp", "snap", T, email="Person@Example.com", phone="+44 844 412 4653", **WEB),
    event_line("StartTrial", "nokeys", T, plan="Growth"),
    event_line("Churned", "churn", T, email="Gone@Acme.example", lastName="Gone",
           companyName="Acme"),
]  # fmt: skip

CONFIG = {
    "workspace": {"value_unit": "minor", "phone_region": "US"},
    "destinations": {
        "meta": {"enabled": True, "pixel_id": "123", "access_token_env": "T_META"},
        "google_ads": {
            "enabled": True,
            "customer_id": "123-456-7890",
            "events": ["SignUp", "Purchase", "LeadCaptured", "Refund", "Chargeback"],
            "conversion_actions": {"SignUp": "11", "Purchase": "12", "LeadCaptured": "13"},
        },
        "linkedin": {
            "enabled": True,
            "conversion_rules": {"SignUp": "111", "Purchase": "222", "LeadCaptured": "333"},
        },
        "tiktok": {"enabled": True, "pixel_code": "PIX"},
        "snapchat": {"enabled": True, "pixel_id": "snap"},
        "reddit": {"enabled": True, "pixel_id": "t2_x"},
        "hubspot": {"enabled": True, "portal_id": "42"},
        "salesforce": {
            "enabled": True,
            "instance_url": "https://acme.my.salesforce.com",
            "events": ["SignUp", "Purchase", "Refund", "Chargeback", "Churned"],
        },
        "posthog": {"enabled": True, "project_api_key_env": "T_POSTHOG"},
    },
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("payloads")
    wh = tw.connect(tmp / "wh.duckdb", config=parse_config(CONFIG))
    report = wh.ingest(write_lines(tmp / "events.ndjson", EVENTS))
    assert report.files[0].rows_valid == len(EVENTS), wh.quarantine()["detail"].to_list()
    wh.build_payloads(as_of=AS_OF)
    yield wh
    wh.close()


def row(wh: tw.Warehouse, destination: str, event_id: str, kind: str | None = None) -> dict:
    frame = wh.payloads(destination).filter(event_id=event_id)
    if kind:
        frame = frame.filter(request_kind=kind)
    assert frame.height == 1, frame
    out = frame.row(0, named=True)
    out["body"] = json.loads(out["payload"]) if out["payload"] else None
    return out


def test_meta_event_fields_units_and_hashes(built: tw.Warehouse) -> None:
    r = row(built, "meta", "signup")
    body = r["body"]
    assert (r["status"], r["platform_event_name"], r["dedup_key"]) == (
        "ready",
        "CompleteRegistration",
        "signup",
    )
    assert body["event_time"] == int(T.timestamp()) and body["event_id"] == "signup"
    assert body["action_source"] == "website"
    user = body["user_data"]
    assert user["em"] == ["48ddb93f0b30c475423fe177832912c5bcdce3cc72872f8051627967ef278e08"]
    assert user["ph"] == ["e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"]
    assert user["zp"] == ["b9a9cf3cd3723a2e91b7c23ecf68456e872b6e5d86e5cab7f3d45a7302da32c7"]
    assert user["ct"] == ["0007a3d64c01e23d5075203c5977c14e4f7e01a3fc570686fcc50b5e1dd42685"]
    assert user["st"] == ["6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126"]
    assert user["country"] == [sha("us")] and user["fn"] == [sha("john")]
    assert user["ln"] == [sha("doe")]
    assert user["fbc"] == f"fb.1.{int(T.timestamp() * 1000)}.IwAR1"
    assert user["client_user_agent"] == "Mozilla/5.0"
    purchase = row(built, "meta", "purchase")["body"]
    assert purchase["custom_data"] == {"value": 99.0, "currency": "USD", "order_id": "txn_100"}


def test_too_old_and_future_events_are_skipped_while_the_rest_stay_ready(
    built: tw.Warehouse,
) -> None:
    meta = built.payloads("meta")
    reasons = dict(zip(meta["event_id"], meta["skip_reason"], strict=True))
    assert reasons["old"] == "too_old" and reasons["future"] == "future_timestamp"
    assert reasons["nokeys"] == "no_match_keys"
    assert row(built, "reddit", "old")["skip_reason"] == "too_old"
    for destination in ("linkedin", "google_ads", "snapchat"):
        assert row(built, destination, "old")["status"] == "ready"
    ready = meta.filter(status="ready")["event_id"].to_list()
    assert {"signup", "purchase", "late_fbc", "snap"} <= set(ready)
    requests = built.preview("meta")
    assert sum(len(r.event_ids) for r in requests) == len(ready)
    assert not {"old", "future", "nokeys"} & {e for r in requests for e in r.event_ids}


def test_fbc_clicked_after_the_event_is_dropped_with_a_warning(built: tw.Warehouse) -> None:
    r = row(built, "meta", "late_fbc")
    assert r["status"] == "ready" and r["warnings"] == ["invalid_fbc_dropped"]
    assert "fbc" not in r["body"]["user_data"]


def test_google_data_manager_event_and_click_id_rules(built: tw.Warehouse) -> None:
    r = row(built, "google_ads", "purchase", "event")
    body = r["body"]
    assert r["dedup_key"] == "txn_100" and body["transactionId"] == "txn_100"
    assert body["destinationReferences"] == ["12"]
    assert body["eventTimestamp"] == (T - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert body["conversionValue"] == 99.0 and body["currency"] == "USD"
    assert body["adIdentifiers"]["gclid"] == "G1" and "gbraid" not in body["adIdentifiers"]
    assert r["warnings"] == ["braid_dropped_for_gclid"]
    ids = body["userData"]["userIdentifiers"]
    assert ids[0] == {
        "emailAddress": "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
    }
    assert ids[1] == {
        "phoneNumber": "ec7e6b85f24fa6b796f1017236463f1b7160fbdc5e663e39ab363b6d6fe30b9f"
    }
    assert ids[2]["address"] == {
        "givenName": sha("jane"), "familyName": sha("doe"), "regionCode": "US",
        "postalCode": "94025",
    }  # fmt: skip
    assert row(built, "google_ads", "braids")["skip_reason"] == "conflicting_click_ids"
    request = next(r for r in built.preview("google_ads") if r.kind == "event")
    assert request.url == "https://datamanager.googleapis.com/v1/events:ingest"
    assert request.headers["Authorization"] == "Bearer ***"
    assert {"reference": "12", "productDestinationId": "12"}.items() <= next(
        d for d in request.body["destinations"] if d["reference"] == "12"
    ).items()
    assert request.body["encoding"] == "HEX"


def test_google_refunds_restate_or_retract_the_original_conversion(built: tw.Warehouse) -> None:
    partial = row(built, "google_ads", "refund", "conversion_adjustment")
    assert partial["platform_event_name"] == "RESTATEMENT"
    assert partial["body"] == {
        "adjustmentType": "RESTATEMENT",
        "conversionAction": "customers/1234567890/conversionActions/12",
        "orderId": "txn_100",
        "adjustmentDateTime": T.strftime("%Y-%m-%d %H:%M:%S+00:00"),
        "restatementValue": {"adjustedValue": 50.0, "currencyCode": "USD"},
    }
    full = row(built, "google_ads", "chargeback", "conversion_adjustment")
    assert full["body"]["adjustmentType"] == "RETRACTION"
    assert "restatementValue" not in full["body"]


def test_google_classic_click_conversion_shape(tmp_path: Path) -> None:
    config = json.loads(json.dumps(CONFIG))
    config["destinations"] = {
        "google_ads": {**CONFIG["destinations"]["google_ads"], "api": "upload_click_conversions"}
    }
    with tw.connect(tmp_path / "g.duckdb", config=parse_config(config)) as wh:
        wh.ingest(write_lines(tmp_path / "e.ndjson", EVENTS))
        wh.build_payloads(as_of=AS_OF)
        r = row(wh, "google_ads", "purchase", "click_conversion")
        request = next(r for r in wh.preview("google_ads") if r.kind == "click_conversion")
    body = r["body"]
    assert body["conversionAction"] == "customers/1234567890/conversionActions/12"
    assert body["conversionDateTime"] == (T - dt.timedelta(hours=2)).strftime(
        "%Y-%m-%d %H:%M:%S+00:00"
    )
    assert body["orderId"] == "txn_100" and body["conversionValue"] == 99.0
    assert body["userIdentifiers"][0]["hashedEmail"] == sha("janedoe@gmail.com")
    assert body["gclid"] == "G1" and "gbraid" not in body
    assert request.url.endswith("/customers/1234567890:uploadClickConversions")
    assert request.body["partialFailure"] is True
    assert request.headers["developer-token"] == "***"


def test_linkedin_milliseconds_decimal_amount_and_user_ids(built: tw.Warehouse) -> None:
    body = row(built, "linkedin", "purchase")["body"]
    assert body["conversion"] == "urn:lla:llaPartnerConversion:999"  # platformParams override
    assert body["conversionHappenedAt"] == int((T - dt.timedelta(hours=2)).timestamp() * 1000)
    assert body["conversionValue"] == {"currencyCode": "USD", "amount": "99.00"}
    assert body["eventId"] == "purchase"
    assert body["user"]["userIds"] == [
        {"idType": "SHA256_EMAIL", "idValue": sha("jane.doe@gmail.com")},
        {"idType": "LINKEDIN_FIRST_PARTY_ADS_TRACKING_UUID", "idValue": "li-1"},
    ]
    assert body["user"]["userInfo"] == {
        "firstName": "Jane", "lastName": "Doe", "companyName": "Acme Inc.", "countryCode": "US",
    }  # fmt: skip
    assert row(built, "linkedin", "yen")["skip_reason"] is None
    assert row(built, "linkedin", "signup")["body"]["conversion"].endswith(":111")


def test_jpy_minor_units_have_no_decimals(built: tw.Warehouse) -> None:
    assert row(built, "meta", "yen")["body"]["custom_data"]["value"] == 1250.0
    hubspot = row(built, "hubspot", "yen", "deal")["body"]
    assert hubspot["properties"]["amount"] == "1250"


def test_tiktok_seconds_and_e164_phone(built: tw.Warehouse) -> None:
    body = row(built, "tiktok", "purchase")["body"]
    assert body["event"] == "Purchase" and body["event_id"] == "purchase"
    assert body["event_time"] == int((T - dt.timedelta(hours=2)).timestamp())
    assert body["user"]["email"] == sha("jane.doe@gmail.com")
    assert body["user"]["phone"] == sha("+12025550146")
    # file-ingested IPs are stored truncated (client_ip = "truncate", the default)
    assert body["user"]["ttclid"] == "tt1" and body["user"]["ip"] == "203.0.113.0"
    assert body["properties"] == {"currency": "USD", "value": 99.0, "order_id": "txn_100"}
    request = built.preview("tiktok")[0]
    assert request.body["event_source"] == "web" and request.body["event_source_id"] == "PIX"
    assert request.headers["Access-Token"] == "***"


def test_snapchat_top_level_event_id_and_digit_phone(built: tw.Warehouse) -> None:
    body = row(built, "snapchat", "snap")["body"]
    assert body["event_id"] == "snap" and body["event_name"] == "SIGN_UP"
    assert body["user_data"]["em"] == [
        "542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345"
    ]
    assert body["user_data"]["ph"] == [sha("448444124653")]
    assert body["event_time"] == int(T.timestamp()) and body["action_source"] == "WEB"
    assert row(built, "snapchat", "old")["status"] == "ready"  # 10 days < 37


def test_reddit_milliseconds_conversion_id_and_canonical_email(built: tw.Warehouse) -> None:
    body = row(built, "reddit", "reddit")["body"]
    assert body["event_at"] == int(T.timestamp() * 1000)
    assert body["type"] == {"tracking_type": "LEAD"}
    assert body["metadata"] == {"conversion_id": "reddit"}
    assert body["user"]["email"] == (
        "ff8d9819fc0e12bf0d24892e45987e249a28dce836a85cad60e28eaaa8c6d976"
    )
    assert body["user"]["ip_address"] == sha("203.0.113.0")
    custom = row(built, "reddit", "braids")["body"]["type"]
    assert custom == {"tracking_type": "SIGN_UP"}
    request = built.preview("reddit")[0]
    assert request.url == "https://ads-api.reddit.com/api/v3/pixels/t2_x/conversion_events"
    assert "events" in request.body["data"]


def test_hubspot_custom_events_deals_and_contacts(built: tw.Warehouse) -> None:
    event = row(built, "hubspot", "signup", "custom_event")["body"]
    assert event["eventName"] == "pe42_sign_up"
    assert event["occurredAt"] == T.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert event["email"] == "abc@gmail.com"  # CRMs get the normalized email in clear
    assert len(event["uuid"]) == 36
    deal = row(built, "hubspot", "purchase", "deal")["body"]
    assert deal["idProperty"] == "trackstack_order_id" and deal["id"] == "txn_100"
    assert deal["properties"]["amount"] == "99.00"
    assert deal["properties"]["dealstage"] == "closedwon"
    refund = row(built, "hubspot", "refund", "deal")["body"]
    assert refund["properties"]["dealstage"] == "closedlost"
    contact = row(built, "hubspot", "churn", "contact")["body"]
    assert contact == {
        "idProperty": "email",
        "id": "gone@acme.example",
        "properties": {"trackstack_churned_at": T.strftime("%Y-%m-%dT%H:%M:%S.000Z")},
    }


def test_salesforce_composite_upsert_records(built: tw.Warehouse) -> None:
    opportunity = row(built, "salesforce", "purchase", "opportunity")["body"]
    assert opportunity["attributes"] == {"type": "Opportunity"}
    assert opportunity["TrackStack_Order_Id__c"] == "txn_100"
    assert opportunity["Amount"] == 99.0 and opportunity["StageName"] == "Closed Won"
    assert row(built, "salesforce", "signup", "lead")["skip_reason"] == "missing_company"
    assert built.payloads("salesforce").filter(event_id="churn", request_kind="lead").is_empty()
    account = row(built, "salesforce", "churn", "account")  # a churn updates the Account
    assert account["skip_reason"] == "missing_company_id"  # the event names no companyId
    request = built.preview("salesforce")[0]
    assert request.method == "PATCH" and request.body["allOrNone"] is False
    assert "/composite/sobjects/" in request.url


def test_ad_payloads_never_carry_raw_pii(built: tw.Warehouse) -> None:
    raw = ["jane.doe@gmail.com", "abc@gmail.com", "650", "Doe", "Person@", "Al.ice", "gone@"]
    for destination in ("meta", "google_ads", "tiktok", "snapchat", "reddit"):
        text = "\n".join(built.payloads(destination)["payload"].drop_nulls().to_list())
        assert not [value for value in raw if value.lower() in text.lower()], destination
    linkedin = "\n".join(built.payloads("linkedin")["payload"].drop_nulls().to_list())
    assert "jane.doe@gmail.com" not in linkedin and '"firstName":"Jane"' in linkedin
    assert row(built, "tiktok", "signup")["body"]["user"]["city"] == "menlopark"  # plain by spec


@pytest.mark.parametrize(
    ("destination", "kind", "limit"),
    [
        ("meta", "event", 1000), ("google_ads", "event", 2000),
        ("google_ads", "conversion_adjustment", 2000), ("linkedin", "event", 5000),
        ("tiktok", "event", 1000), ("snapchat", "event", 2000), ("reddit", "event", 1000),
        ("hubspot", "custom_event", 500), ("hubspot", "deal", 100),
        ("salesforce", "opportunity", 200), ("posthog", "event", 1000),
        ("posthog", "identify", 1000),
    ],
)  # fmt: skip
def test_requests_are_batched_at_each_platform_limit(
    destination: str, kind: str, limit: int
) -> None:
    dest = parse_config(CONFIG).destinations[destination]
    rows = [(f"e{i}", json.dumps({"n": i})) for i in range(limit * 2 + 7)]
    requests = plan_requests(dest, kind, rows)
    assert [len(r.event_ids) for r in requests] == [limit, limit, 7]
    assert ENDPOINTS[(destination, kind)].batch_size == limit


def test_building_is_incremental_and_rebuilding_is_identical(tmp_path: Path) -> None:
    with tw.connect(tmp_path / "i.duckdb", config=parse_config(CONFIG)) as wh:
        wh.ingest(write_lines(tmp_path / "a.ndjson", EVENTS[:5]))
        routed = "select count(*) from event_routes where destination = 'meta' and reason is null"
        first = {r.destination: r.inserted for r in wh.build_payloads(as_of=AS_OF)}
        assert first["meta"] == wh.sql(routed).item() == 3  # Refund/Chargeback: not for ads
        again = {r.destination: r.inserted for r in wh.build_payloads(as_of=AS_OF)}
        assert set(again.values()) == {0}
        wh.ingest(write_lines(tmp_path / "b.ndjson", EVENTS[5:]))
        added = {r.destination: r.inserted for r in wh.build_payloads(as_of=AS_OF)}
        assert added["meta"] == wh.sql(routed).item() - 3 == 8
        before = wh.payloads("meta").sort("event_id")
        wh.build_payloads(as_of=AS_OF, rebuild=True)
        after = wh.payloads("meta").sort("event_id")
        assert after.drop("built_seq").equals(before.drop("built_seq"))
        assert after["built_seq"].min() > before["built_seq"].max()  # written again


@pytest.mark.parametrize("part_events", [1, 2, 3, 5, 10**9])
def test_parts_take_every_event_exactly_once(
    built: tw.Warehouse, monkeypatch: pytest.MonkeyPatch, part_events: int
) -> None:
    monkeypatch.setattr(build, "PART_EVENTS", part_events)
    parts = build.build_parts(built.conn, None)
    total = built.sql("select count(*) from events").item()
    assert len(parts) > 1 if total > part_events else parts == [{"part_lo": None, "part_hi": None}]
    assert parts[0]["part_lo"] is None and parts[-1]["part_hi"] is None
    for before, after in zip(parts, parts[1:], strict=False):
        assert before["part_hi"] == after["part_lo"] is not None
    query = f"select count(*) from events where {in_part()}"
    sizes = [built.conn.execute(query, part).fetchall()[0][0] for part in parts]
    assert sum(sizes) == total and all(sizes)


@pytest.mark.parametrize(
    ("part_events", "kept_below"),
    [(3, 0.0), (3, 2.0), (10**9, 0.0), (10**9, 2.0)],
    ids=["parts-all-identities", "parts-kept-identities", "one-all", "one-kept"],
)
def test_a_build_in_parts_or_with_kept_identities_equals_the_default(
    built: tw.Warehouse,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    part_events: int,
    kept_below: float,
) -> None:
    monkeypatch.setattr(build, "PART_EVENTS", part_events)
    monkeypatch.setattr(build, "KEPT_IDENTITIES_BELOW", kept_below)
    assert len(build.build_parts(built.conn, None)) >= (3 if part_events == 3 else 1)
    with tw.connect(tmp_path / "s.duckdb", config=parse_config(CONFIG)) as wh:
        wh.ingest(write_lines(tmp_path / "events.ndjson", EVENTS))
        wh.build_payloads(as_of=AS_OF)
        for table in PAYLOAD_TABLES.values():
            query = f"select * exclude (built_seq) from {table} order by event_id, request_kind"
            assert wh.sql(query).equals(built.sql(query)), table


def test_a_config_change_rebuilds_that_destinations_rows(tmp_path: Path) -> None:
    db = tmp_path / "c.duckdb"
    with tw.connect(db, config=parse_config(CONFIG)) as wh:
        wh.ingest(write_lines(tmp_path / "a.ndjson", EVENTS))
        wh.build_payloads(as_of=AS_OF)
    changed = json.loads(json.dumps(CONFIG))
    changed["destinations"]["meta"]["event_names"] = {"SignUp": "SignUpCompleted"}
    with tw.connect(db, config=parse_config(changed)) as wh:
        results = {r.destination: r for r in wh.build_payloads(as_of=AS_OF)}
        assert results["meta"].rebuilt == results["meta"].inserted > 0
        assert results["tiktok"].rebuilt == 0
        assert row(wh, "meta", "signup")["body"]["event_name"] == "SignUpCompleted"


def test_demo_samples_give_ready_rows_for_every_enabled_destination(tmp_path: Path) -> None:
    root = Path(__file__).parent.parent
    db = tmp_path / "demo.duckdb"
    assert main(["--db", str(db), "--config", str(root / "trackstack.toml"), "demo",
                 "--samples", str(root / "data" / "samples")]) == 0  # fmt: skip
    with tw.connect(db, config=root / "trackstack.toml") as wh:
        enabled = {d.name for d in wh.config.enabled()}
        summary = wh.payload_summary().filter(status="ready")
        ready = dict(summary.group_by("destination").agg(n=pl.col("rows").sum()).iter_rows())
        assert enabled == set(PAYLOAD_TABLES) and all(ready.get(d, 0) > 0 for d in enabled)
        kinds = set(summary["request_kind"])
        assert {"conversion_adjustment", "deal", "contact", "opportunity", "lead"} <= kinds


def test_a_warehouse_from_before_event_seq_is_numbered_and_rebuilt(
    built: tw.Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "old.duckdb"
    with tw.connect(db, config=parse_config(CONFIG)) as wh:
        wh.ingest(write_lines(tmp_path / "a.ndjson", EVENTS[:5]))
        wh.build_payloads(as_of=AS_OF)
        for table in ("events", "event_identity", *PAYLOAD_TABLES.values()):
            wh.conn.execute(f"alter table {table} drop column event_seq")
        wh.conn.execute("delete from quality_runs")  # its settings were older too
        wh.conn.execute("drop table payload_builds")  # and it kept no build marks
    monkeypatch.setattr(build, "PART_EVENTS", 3)
    with tw.connect(db, config=parse_config(CONFIG)) as wh:
        old = wh.sql("select min(event_seq), max(event_seq), count(*) from events").row(0)
        assert old == (0, 4, 5)  # numbered in storage order
        results = {r.destination: r for r in wh.build_payloads(as_of=AS_OF)}
        assert results["meta"].rebuilt == results["meta"].inserted > 0
        wh.ingest(write_lines(tmp_path / "b.ndjson", EVENTS[5:]))
        assert wh.sql("select min(event_seq) from events where event_seq > 4").item() > 2**32
        wh.build_payloads(as_of=AS_OF)
        for table in PAYLOAD_TABLES.values():
            query = (
                f"select * exclude (event_seq, built_seq) from {table} "
                "order by event_id, request_kind"
            )
            assert wh.sql(query).equals(built.sql(query)), table


def test_an_undone_load_takes_the_payload_rows_built_from_it(
    built: tw.Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, path = tmp_path / "u.duckdb", write_lines(tmp_path / "events.ndjson", EVENTS)
    monkeypatch.setattr(build, "PART_EVENTS", 3)
    with tw.connect(db, config=parse_config(CONFIG)) as wh:
        batch = wh.ingest(path).files[0].batch_id
        wh.build_payloads(as_of=AS_OF)
        # As if the load's last transaction never committed and its process died.
        wh.conn.execute(
            "insert into ingest_loading (batch_id, source_uri, content_sha256, started_at, pid) "
            "select batch_id, source_uri, content_sha256, now(), 0 from ingest_batches"
        )
        wh.conn.execute("delete from ingest_batches")
    with tw.connect(db, config=parse_config(CONFIG)) as wh:
        assert wh.sql("select count(*) from events").item() == 0
        assert all(wh.sql(f"select count(*) from {t}").item() == 0 for t in PAYLOAD_TABLES.values())
        assert wh.ingest(path).files[0].batch_id == batch  # numbered anew: a later event_seq
        wh.build_payloads(as_of=AS_OF)
        for table in PAYLOAD_TABLES.values():
            query = (
                f"select * exclude (event_seq, built_seq) from {table} "
                "order by event_id, request_kind"
            )
            assert wh.sql(query).equals(built.sql(query)), table
