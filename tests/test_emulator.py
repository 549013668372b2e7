"""The ad-platform / CRM emulator, served in a subprocess and driven over HTTP: every
destination's success and error bodies, dedup counting, batch limits, auth and faults."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from trackstack_lab.emulator import EmulatorProcess, create_app, dedup_identity
from trackstack_lab.process import ServerError

CLOCK = dt.datetime(2026, 10, 20, 12, 0, tzinfo=dt.UTC)
NOW = int(CLOCK.timestamp())
HOUR_AGO = NOW - 3600
ISO_HOUR_AGO = "2026-10-20T11:00:00.000Z"
GOOGLE_HOUR_AGO = "2026-10-20 11:00:00+00:00"
CID = "1234567890"
ACTION = f"customers/{CID}/conversionActions/700000005"
UPPER_HASH = "A" * 64


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def meta_event(i: int) -> dict[str, Any]:
    return {
        "event_name": "Purchase",
        "event_time": HOUR_AGO,
        "event_id": f"evt_{i}",
        "action_source": "website",
        "event_source_url": "https://app.example.com/checkout",
        "user_data": {
            "em": [sha(f"user{i}@example.com")],
            "ph": [sha("16505551212")],
            "client_ip_address": "203.0.113.9",
            "client_user_agent": "Mozilla/5.0",
        },
        "custom_data": {"value": 99.0, "currency": "USD"},
    }


def data_manager_event(i: int) -> dict[str, Any]:
    return {
        "destinationReferences": ["700000005"],
        "transactionId": f"txn_{i}",
        "eventTimestamp": ISO_HOUR_AGO,
        "eventSource": "WEB",
        "conversionValue": 99.0,
        "currency": "USD",
        "userData": {"userIdentifiers": [{"emailAddress": sha(f"user{i}@example.com")}]},
    }


def click_conversion(i: int) -> dict[str, Any]:
    return {
        "gclid": f"G{i}",
        "conversionAction": ACTION,
        "conversionDateTime": GOOGLE_HOUR_AGO,
        "conversionValue": 99.0,
        "currencyCode": "USD",
        "orderId": f"txn_{i}",
        "userIdentifiers": [{"hashedEmail": sha(f"user{i}@example.com")}],
    }


def adjustment(i: int) -> dict[str, Any]:
    return {
        "adjustmentType": "RESTATEMENT",
        "conversionAction": ACTION,
        "orderId": f"txn_{i}",
        "adjustmentDateTime": GOOGLE_HOUR_AGO,
        "restatementValue": {"adjustedValue": 49.5, "currencyCode": "USD"},
    }


def linkedin_event(i: int) -> dict[str, Any]:
    return {
        "conversion": "urn:lla:llaPartnerConversion:18000005",
        "conversionHappenedAt": HOUR_AGO * 1000,
        "conversionValue": {"currencyCode": "USD", "amount": "99.00"},
        "eventId": f"evt_{i}",
        "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": sha(f"user{i}@example.com")}]},
    }


def tiktok_event(i: int) -> dict[str, Any]:
    return {
        "event": "CompleteRegistration",
        "event_time": HOUR_AGO,
        "event_id": f"evt_{i}",
        "user": {"email": sha(f"user{i}@example.com"), "ip": "203.0.113.9"},
        "page": {"url": "https://app.example.com/signup"},
    }


def snapchat_event(i: int) -> dict[str, Any]:
    return {
        "event_name": "SIGN_UP",
        "event_time": HOUR_AGO,
        "event_id": f"evt_{i}",
        "action_source": "WEB",
        "event_source_url": "https://app.example.com/signup",
        "user_data": {"em": [sha(f"user{i}@example.com")], "client_ip_address": "203.0.113.9"},
    }


def reddit_event(i: int) -> dict[str, Any]:
    return {
        "event_at": HOUR_AGO * 1000,
        "action_source": "WEBSITE",
        "type": {"tracking_type": "CUSTOM", "custom_event_name": "Reactivated"},
        "metadata": {"conversion_id": f"evt_{i}"},
        "user": {"external_id": sha(f"user_{i}"), "ip_address": sha("203.0.113.9")},
    }


def hubspot_event(i: int) -> dict[str, Any]:
    return {
        "eventName": "pe4455667_demo_booked",
        "occurredAt": ISO_HOUR_AGO,
        "email": f"user{i}@acme.example",
        "uuid": f"00000000-0000-4000-8000-{i:012d}",
        "properties": {"plan": "Growth"},
    }


def hubspot_deal(i: int) -> dict[str, Any]:
    properties = {"dealname": f"Deal {i}", "amount": "499.00", "dealstage": "closedwon"}
    return {"idProperty": "trackstack_order_id", "id": f"txn_{i}", "properties": properties}


def hubspot_contact(i: int) -> dict[str, Any]:
    properties = {"trackstack_churned_at": ISO_HOUR_AGO}
    return {"idProperty": "email", "id": f"user{i}@acme.example", "properties": properties}


def opportunity(i: int) -> dict[str, Any]:
    return {
        "attributes": {"type": "Opportunity"},
        "TrackStack_Order_Id__c": f"txn_{i}",
        "Name": f"Deal {i}",
        "Amount": 499.0,
        "CloseDate": "2026-10-20",
        "StageName": "Closed Won",
    }


def lead(i: int) -> dict[str, Any]:
    return {
        "attributes": {"type": "Lead"},
        "TrackStack_Email__c": f"user{i}@acme.example",
        "Email": f"user{i}@acme.example",
        "LastName": "Lovelace",
        "Company": "Acme",
    }


Request = tuple[str, str, dict[str, str], Any]
Rows = list[dict[str, Any]]
Expect = tuple[int, Callable[[Any], bool]]
"""An HTTP status and a predicate on the JSON body."""


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


@dataclass(frozen=True)
class Case:
    """How to send a batch of one request kind, and what the platform answers."""

    destination: str
    kind: str
    element: Callable[[int], dict[str, Any]]
    request: Callable[[Rows, str], Request]
    limit: int
    ok: Callable[[httpx.Response, int], bool]
    auth: Expect
    too_many: Expect

    @property
    def id(self) -> str:
        return f"{self.destination}-{self.kind}"


def meta_request(rows: Rows, token: str) -> Request:
    return "POST", f"/meta/v25.0/100000000000001/events?access_token={token}", {}, {"data": rows}


def meta_ok(r: httpx.Response, n: int) -> bool:
    body = r.json()
    return (
        set(body) == {"events_received", "messages", "fbtrace_id"} and body["events_received"] == n
    )


def data_manager_request(rows: Rows, token: str) -> Request:
    account = {"accountType": "GOOGLE_ADS", "accountId": CID}
    target = {"reference": "700000005", "productDestinationId": "700000005"}
    body = {
        "destinations": [{**target, "operatingAccount": account}],
        "events": rows,
        "encoding": "HEX",
    }
    return "POST", "/google_ads/v1/events:ingest", bearer(token), body


def violations(body: Any) -> list[str]:
    return [v["field"] for v in body["error"]["details"][0]["fieldViolations"]]


def google_ads_request(path: str, key: str) -> Callable[[Rows, str], Request]:
    def request(rows: Rows, token: str) -> Request:
        headers = bearer(token, **{"developer-token": "dev"})
        body = {key: rows, "partialFailure": True, "validateOnly": False}
        return "POST", f"/google_ads/v22/customers/{CID}:{path}", headers, body

    return request


def upload_ok(r: httpx.Response, n: int) -> bool:
    body = r.json()
    return set(body) == {"results"} and len(body["results"]) == n and all(body["results"])


def ads_error(code: dict[str, str]) -> Expect:
    return 400, lambda b: b["error"]["details"][0]["errors"][0]["errorCode"] == code


def linkedin_request(rows: Rows, token: str) -> Request:
    headers = bearer(
        token,
        **{
            "LinkedIn-Version": "202603",
            "X-Restli-Protocol-Version": "2.0.0",
            "X-RestLi-Method": "BATCH_CREATE",
        },
    )
    return "POST", "/linkedin/rest/conversionEvents", headers, {"elements": rows}


def tiktok_request(rows: Rows, token: str) -> Request:
    body = {"event_source": "web", "event_source_id": "C4TESTPIXEL0001", "data": rows}
    return "POST", "/tiktok/open_api/v1.3/event/track/", {"Access-Token": token}, body


def tiktok_ok(r: httpx.Response, n: int) -> bool:
    body = r.json()
    return set(body) == {"code", "message", "request_id", "data"} and body["code"] == 0


def snapchat_request(rows: Rows, token: str) -> Request:
    return "POST", f"/snapchat/v3/pixel-1/events?access_token={token}", {}, {"data": rows}


def reddit_request(rows: Rows, token: str) -> Request:
    path = "/reddit/api/v3/pixels/t2_demo0001/conversion_events"
    return "POST", path, bearer(token), {"data": {"events": rows}}


def hubspot_events_request(rows: Rows, token: str) -> Request:
    return "POST", "/hubspot/events/v3/send/batch", bearer(token), {"inputs": rows}


def hubspot_upsert_request(obj: str) -> Callable[[Rows, str], Request]:
    def request(rows: Rows, token: str) -> Request:
        path = f"/hubspot/crm/v3/objects/{obj}/batch/upsert"
        return "POST", path, bearer(token), {"inputs": rows}

    return request


def upsert_ok(r: httpx.Response, n: int) -> bool:
    body = r.json()
    return (
        r.status_code == 200
        and body["status"] == "COMPLETE"
        and len(body["results"]) == n
        and {"startedAt", "completedAt"} <= set(body)
        and "errors" not in body
    )


def salesforce_request(sobject: str, field: str) -> Callable[[Rows, str], Request]:
    def request(rows: Rows, token: str) -> Request:
        path = f"/salesforce/services/data/v62.0/composite/sobjects/{sobject}/{field}"
        return "PATCH", path, bearer(token), {"allOrNone": False, "records": rows}

    return request


def salesforce_ok(r: httpx.Response, n: int) -> bool:
    rows = r.json()
    return len(rows) == n and all(
        row["success"] and row["created"] and row["errors"] == [] and len(row["id"]) == 18
        for row in rows
    )


SESSION_ERROR = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
LINKEDIN_AUTH = {
    "status": 401,
    "serviceErrorCode": 65600,
    "code": "INVALID_ACCESS_TOKEN",
    "message": "Invalid access token",
}
SNAPCHAT_AUTH = {"status": "INVALID", "reason": "Unauthorized: invalid access token"}
GOOGLE_AUTH: Expect = (401, lambda b: b["error"]["status"] == "UNAUTHENTICATED")
HUBSPOT_AUTH: Expect = (401, lambda b: b["category"] == "INVALID_AUTHENTICATION")
HUBSPOT_LIMIT: Expect = (400, lambda b: b["category"] == "VALIDATION_ERROR")
SALESFORCE_AUTH: Expect = (401, lambda b: b == SESSION_ERROR)
SALESFORCE_LIMIT: Expect = (400, lambda b: b[0]["errorCode"] == "EXCEEDED_ID_LIMIT")

CASES = [
    Case(
        "meta", "event", meta_event, meta_request, 1000, meta_ok,
        auth=(401, lambda b: b["error"]["code"] == 190 and "error_subcode" not in b["error"]),
        too_many=(400, lambda b: b["error"]["code"] == 100),
    ),
    Case(
        "google_ads", "event", data_manager_event, data_manager_request, 2000,
        lambda r, n: set(r.json()) == {"requestId"},
        auth=GOOGLE_AUTH,
        too_many=(400, lambda b: violations(b) == ["events"]),
    ),
    Case(
        "google_ads", "click_conversion", click_conversion,
        google_ads_request("uploadClickConversions", "conversions"), 2000, upload_ok,
        auth=GOOGLE_AUTH,
        too_many=ads_error({"conversionUploadError": "TOO_MANY_CONVERSIONS_IN_REQUEST"}),
    ),
    Case(
        "google_ads", "conversion_adjustment", adjustment,
        google_ads_request("uploadConversionAdjustments", "conversionAdjustments"), 2000,
        upload_ok,
        auth=GOOGLE_AUTH,
        too_many=ads_error({"conversionAdjustmentUploadError": "TOO_MANY_ADJUSTMENTS_IN_REQUEST"}),
    ),
    Case(
        "linkedin", "event", linkedin_event, linkedin_request, 5000,
        lambda r, n: r.json() == {"elements": [{"status": 201}] * n},
        auth=(401, lambda b: b == LINKEDIN_AUTH),
        too_many=(400, lambda b: b["status"] == 400),
    ),
    Case(
        "tiktok", "event", tiktok_event, tiktok_request, 1000, tiktok_ok,
        auth=(200, lambda b: b["code"] == 40105),
        too_many=(200, lambda b: b["code"] == 40002),
    ),
    Case(
        "snapchat", "event", snapchat_event, snapchat_request, 2000,
        lambda r, n: r.json() == {"status": "VALID", "reason": ""},
        auth=(401, lambda b: b == SNAPCHAT_AUTH),
        too_many=(400, lambda b: b["status"] == "INVALID"),
    ),
    Case(
        "reddit", "event", reddit_event, reddit_request, 1000,
        lambda r, n: r.json() == {"message": f"Successfully processed {n} conversion events."},
        auth=(401, lambda b: b["success"] is False and b["error"]["reason"] == "UNAUTHORIZED"),
        too_many=(400, lambda b: "message" in b),
    ),
    Case(
        "hubspot", "custom_event", hubspot_event, hubspot_events_request, 500,
        lambda r, n: r.status_code == 204 and r.content == b"",
        auth=HUBSPOT_AUTH, too_many=HUBSPOT_LIMIT,
    ),
    Case(
        "hubspot", "deal", hubspot_deal, hubspot_upsert_request("deals"), 100, upsert_ok,
        auth=HUBSPOT_AUTH, too_many=HUBSPOT_LIMIT,
    ),
    Case(
        "hubspot", "contact", hubspot_contact, hubspot_upsert_request("contacts"), 100,
        upsert_ok, auth=HUBSPOT_AUTH, too_many=HUBSPOT_LIMIT,
    ),
    Case(
        "salesforce", "opportunity", opportunity,
        salesforce_request("Opportunity", "TrackStack_Order_Id__c"), 200, salesforce_ok,
        auth=SALESFORCE_AUTH, too_many=SALESFORCE_LIMIT,
    ),
    Case(
        "salesforce", "lead", lead, salesforce_request("Lead", "TrackStack_Email__c"), 200,
        salesforce_ok, auth=SALESFORCE_AUTH, too_many=SALESFORCE_LIMIT,
    ),
]  # fmt: skip
BY_ID = {case.id: case for case in CASES}


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(clock=CLOCK) as process:
        yield process


@pytest.fixture(scope="module")
def client(emu: EmulatorProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, timeout=10.0) as http:
        yield http


@pytest.fixture(autouse=True)
def _fresh(emu: EmulatorProcess) -> None:
    emu.reset()
    emu.set_clock(CLOCK)


def send(
    client: httpx.Client, case: Case, rows: list[dict[str, Any]], token: str = "tok", **kw: Any
) -> httpx.Response:
    method, path, headers, body = case.request(rows, token)
    return client.request(method, path, headers=headers, json=body, **kw)


def batch(case: Case, n: int, start: int = 0) -> list[dict[str, Any]]:
    return [case.element(i) for i in range(start, start + n)]


def identities(case: Case, rows: list[dict[str, Any]]) -> dict[str, int]:
    return {dedup_identity(case.destination, case.kind, row): 1 for row in rows}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_valid_batch_is_accepted_and_recorded(
    emu: EmulatorProcess, client: httpx.Client, case: Case
) -> None:
    rows = batch(case, 3)
    response = send(client, case, rows)
    assert response.status_code in (200, 204), response.text
    assert case.ok(response, 3), response.text
    assert emu.records(case.destination) == identities(case, rows)
    stats = emu.stats()[case.destination]
    assert stats["received"] == stats["unique"] == 3
    assert stats["requests"] == stats["accepted_requests"] == 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_resent_elements_count_once(emu: EmulatorProcess, client: httpx.Client, case: Case) -> None:
    rows = batch(case, 2)
    assert case.ok(send(client, case, rows), 2)
    if case.destination != "salesforce":
        assert case.ok(send(client, case, rows), 2)
    else:
        assert all(r["created"] is False for r in send(client, case, rows).json())
    assert case.ok(send(client, case, batch(case, 1, start=2)), 1)
    stats = emu.stats()[case.destination]
    assert (stats["received"], stats["unique"], stats["duplicates"]) == (5, 3, 2)
    assert set(emu.records(case.destination).values()) == {1, 2}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_batch_over_the_limit_is_refused(
    emu: EmulatorProcess, client: httpx.Client, case: Case
) -> None:
    response = send(client, case, batch(case, case.limit + 1))
    status, expected = case.too_many
    assert response.status_code == status
    assert expected(response.json()), response.text
    stats = emu.stats()[case.destination]
    assert stats["received"] == 0
    assert stats["rejected_requests"] == 1
    assert stats["rejected_events"] == case.limit + 1


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_token_gets_the_platform_auth_error(
    emu: EmulatorProcess, client: httpx.Client, case: Case
) -> None:
    response = send(client, case, batch(case, 1), token="invalid-token")
    status, expected = case.auth
    assert response.status_code == status
    assert expected(response.json()), response.text
    assert emu.records(case.destination) == {}


def test_google_ads_api_needs_a_developer_token(client: httpx.Client) -> None:
    method, path, headers, body = BY_ID["google_ads-click_conversion"].request(
        [click_conversion(0)], "tok"
    )
    del headers["developer-token"]
    response = client.request(method, path, headers=headers, json=body)
    assert response.status_code == 401
    assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_meta_refuses_the_whole_batch_without_naming_the_event(
    emu: EmulatorProcess, client: httpx.Client
) -> None:
    case = BY_ID["meta-event"]
    rows = batch(case, 3)
    rows[1]["user_data"]["em"] = [UPPER_HASH]
    error = send(client, case, rows).json()["error"]
    assert error["code"] == 100 and error["error_subcode"] == 2804050
    assert error["type"] == "OAuthException" and error["message"] == "Invalid parameter"
    assert "user_data.em" in error["error_user_msg"] and "1" not in error["error_user_msg"]
    assert {"error_user_title", "fbtrace_id"} <= set(error)
    rows = batch(case, 3)
    rows[2]["event_time"] = NOW - 8 * 86_400
    too_old = send(client, case, rows)
    assert too_old.status_code == 400
    assert too_old.json()["error"]["error_subcode"] == 2804003
    rows = batch(case, 2)
    rows[0]["event_time"] = HOUR_AGO * 1000
    unit = send(client, case, rows).json()["error"]
    assert unit["error_subcode"] == 2804050 and "milliseconds" in unit["error_user_msg"]
    assert emu.records("meta") == {}
    assert emu.stats()["meta"]["rejected_events"] == 8


def test_meta_records_test_events(emu: EmulatorProcess, client: httpx.Client) -> None:
    body = {"data": batch(BY_ID["meta-event"], 2), "test_event_code": "TEST123"}
    response = client.post("/meta/v25.0/1/events", params={"access_token": "t"}, json=body)
    assert response.status_code == 200
    assert emu.stats()["meta"]["test_events"] == 2


def test_data_manager_names_each_bad_event(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["google_ads-event"]
    rows = batch(case, 4)
    rows[1]["eventTimestamp"] = "2026-06-01T00:00:00Z"
    rows[3]["userData"]["userIdentifiers"][0]["emailAddress"] = "not-a-hash"
    response = send(client, case, rows)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert error["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert violations(response.json()) == [
        "events[1].event_timestamp",
        "events[3].user_data.user_identifiers[0].email_address",
    ]
    method, path, headers, body = case.request(batch(case, 2), "tok")
    body["validateOnly"] = True
    assert client.request(method, path, headers=headers, json=body).status_code == 200
    assert emu.records("google_ads") == {}


def test_click_conversions_fail_per_row(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["google_ads-click_conversion"]
    rows = batch(case, 3)
    rows[1]["conversionDateTime"] = "2026-06-01 00:00:00+00:00"
    body = send(client, case, rows).json()
    assert body["results"][1] == {} and body["results"][0]["gclid"] == "G0"
    failure = body["partialFailureError"]
    assert failure["code"] == 3
    details = failure["details"][0]
    assert details["@type"].endswith("google.ads.googleads.v22.errors.GoogleAdsFailure")
    (error,) = details["errors"]
    assert error["errorCode"] == {"conversionUploadError": "EXPIRED_EVENT"}
    assert error["location"]["fieldPathElements"] == [
        {"fieldName": "conversions", "index": 1},
        {"fieldName": "conversion_date_time"},
    ]
    assert emu.records("google_ads") == identities(case, [rows[0], rows[2]])
    assert emu.stats()["google_ads"]["rejected_events"] == 1


def test_adjustments_fail_per_row_and_validate_only_records_nothing(
    emu: EmulatorProcess, client: httpx.Client
) -> None:
    case = BY_ID["google_ads-conversion_adjustment"]
    rows = batch(case, 2)
    del rows[0]["restatementValue"]
    body = send(client, case, rows).json()
    (error,) = body["partialFailureError"]["details"][0]["errors"]
    assert set(error["errorCode"]) == {"conversionAdjustmentUploadError"}
    assert error["location"]["fieldPathElements"][0] == {
        "fieldName": "conversion_adjustments",
        "index": 0,
    }
    method, path, headers, payload = case.request(batch(case, 2, start=5), "tok")
    payload["validateOnly"] = True
    checked = client.request(method, path, headers=headers, json=payload).json()
    assert checked == {"results": [{}, {}]}
    assert emu.records("google_ads") == identities(case, [rows[1]])


def test_linkedin_lists_every_bad_index(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["linkedin-event"]
    rows = batch(case, 4)
    rows[1]["conversionHappenedAt"] = HOUR_AGO
    rows[3]["user"]["userIds"][0]["idValue"] = UPPER_HASH
    response = send(client, case, rows)
    assert response.status_code == 422
    body = response.json()
    assert (body["status"], body["code"]) == (422, "UNPROCESSABLE_ENTITY")
    lines = body["message"].split("\n")
    assert lines[0].startswith("Index: 1, ERROR :: /conversionHappenedAt :: ")
    assert lines[1].startswith("Index: 3, ERROR :: /user/userIds/0/idValue :: ")
    assert emu.records("linkedin") == {}


def test_tiktok_errors_are_http_200(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["tiktok-event"]
    rows = batch(case, 3)
    rows[2]["event_time"] = HOUR_AGO * 1000
    rows[1]["user"]["email"] = "ada@example.com"
    response = send(client, case, rows)
    assert response.status_code == 200
    body = response.json()
    assert body["code"] == 40002 and body["data"] == {}
    assert body["message"].startswith("Batch.1.user.email: ")
    assert "; Batch.2.event_time: " in body["message"]
    assert emu.records("tiktok") == {}


def test_snapchat_names_the_first_bad_event(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["snapchat-event"]
    rows = batch(case, 3)
    rows[1]["event_time"] = NOW - 40 * 86_400
    response = send(client, case, rows)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == "INVALID" and body["event"] == 1
    assert len(body["errors"]["codes"]) == len(body["errors"]["error_msgs"]) == 1
    validate = client.post(
        "/snapchat/v3/pixel-1/events/validate", params={"access_token": "t"}, json={"data": rows}
    ).json()
    assert validate["status"] == "INVALID" and validate["test_event"] is True
    assert [log["status"] for log in validate["event_logs"]] == ["VALID", "INVALID", "VALID"]
    assert emu.records("snapchat") == {}


def test_reddit_lists_invalid_events_as_sent(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["reddit-event"]
    rows = batch(case, 2)
    rows[0]["event_at"] = (NOW - 8 * 86_400) * 1000
    body = send(client, case, rows).json()
    assert body["message"] == "There were 1 invalid conversion events. None were processed."
    assert body["invalid_events"] == [
        {"error_message": "event_at timestamp must be less than 168h0m0s old", "event": rows[0]}
    ]
    assert emu.records("reddit") == {}


def test_hubspot_events_and_upserts(emu: EmulatorProcess, client: httpx.Client) -> None:
    events = batch(BY_ID["hubspot-custom_event"], 3)
    events[1]["eventName"] = "demo_booked"
    body = send(client, BY_ID["hubspot-custom_event"], events).json()
    assert body["status"] == "error" and body["category"] == "VALIDATION_ERROR"
    assert [e["context"] for e in body["errors"]] == [{"index": ["1"]}]
    deals = batch(BY_ID["hubspot-deal"], 3)
    deals[2]["properties"]["amount"] = "lots"
    response = send(client, BY_ID["hubspot-deal"], deals)
    assert response.status_code == 207
    body = response.json()
    assert body["numErrors"] == 1 and body["errors"][0]["context"] == {"id": ["txn_2"]}
    assert len(body["results"]) == 2
    twice = send(client, BY_ID["hubspot-deal"], [hubspot_deal(7), hubspot_deal(7)])
    assert twice.status_code == 400 and "Duplicate" in twice.json()["message"]
    changed = hubspot_deal(0)
    changed["properties"]["dealstage"] = "closedlost"
    assert send(client, BY_ID["hubspot-deal"], [changed]).status_code == 200
    assert emu.stats()["hubspot"]["unique"] == 3


def test_salesforce_answers_per_record(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["salesforce-lead"]
    rows = batch(case, 3)
    del rows[1]["LastName"]
    rows[2]["attributes"]["type"] = "Contact"
    results = send(client, case, rows).json()
    assert results[0]["success"] is True
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [LastName]",
                "fields": ["LastName"],
            }
        ],
        "created": False,
    }
    assert results[2]["success"] is False
    assert emu.records("salesforce") == identities(case, rows[:1])
    broken = client.patch(
        "/salesforce/services/data/v62.0/composite/sobjects/Lead/TrackStack_Email__c",
        headers={"Authorization": "Bearer t"},
        content=b"{not json",
    )
    assert broken.status_code == 400 and broken.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_fault_429_with_retry_after(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["meta-event"]
    emu.inject("meta", "429")
    emu.inject("meta", "429", retry_after="0")
    emu.inject("meta", "429", retry_after=None)
    answers = [send(client, case, batch(case, 1)) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 429, 200]
    assert [a.headers.get("retry-after") for a in answers[:3]] == ["1", "0", None]
    assert answers[0].json()["error"]["type"] == "OAuthException"
    stats = emu.stats()["meta"]
    assert (stats["requests"], stats["rejected_requests"], stats["received"]) == (4, 3, 1)


def test_fault_503_and_throttles(client: httpx.Client, emu: EmulatorProcess) -> None:
    emu.inject("google_ads", "503", times=2)
    google = BY_ID["google_ads-event"]
    for _ in range(2):
        response = send(client, google, batch(google, 1))
        assert response.status_code == 503
        assert response.json()["error"]["status"] == "UNAVAILABLE"
    emu.inject("tiktok", "throttle")
    tiktok = send(client, BY_ID["tiktok-event"], batch(BY_ID["tiktok-event"], 1))
    assert tiktok.status_code == 200 and tiktok.json()["code"] == 40100
    emu.inject("salesforce", "throttle")
    salesforce = send(client, BY_ID["salesforce-lead"], batch(BY_ID["salesforce-lead"], 1))
    assert salesforce.status_code == 403
    assert salesforce.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    emu.inject("meta", "throttle")
    meta = send(client, BY_ID["meta-event"], batch(BY_ID["meta-event"], 1))
    assert meta.status_code == 400 and meta.json()["error"]["code"] == 80003
    emu.inject("hubspot", "throttle")
    hubspot = send(client, BY_ID["hubspot-deal"], batch(BY_ID["hubspot-deal"], 1))
    assert hubspot.status_code == 429 and hubspot.json()["policyName"] == "SECONDLY"
    emu.inject("hubspot", "500")
    failed = send(client, BY_ID["hubspot-contact"], batch(BY_ID["hubspot-contact"], 1))
    assert failed.status_code == 500 and failed.json()["status"] == "error"
    emu.inject("reddit", "auth")
    reddit = send(client, BY_ID["reddit-event"], batch(BY_ID["reddit-event"], 1))
    assert reddit.status_code == 401
    assert all(s["received"] == 0 for s in emu.stats().values())


def test_fault_timeout_records_then_answers_late(
    emu: EmulatorProcess, client: httpx.Client
) -> None:
    case = BY_ID["linkedin-event"]
    rows = batch(case, 2)
    emu.inject("linkedin", "timeout", delay=0.5)
    with pytest.raises(httpx.ReadTimeout):
        send(client, case, rows, timeout=0.2)
    assert emu.records("linkedin") == identities(case, rows)
    assert case.ok(send(client, case, rows), 2)
    assert emu.stats()["linkedin"]["duplicates"] == 2


@pytest.mark.parametrize(
    "case", [BY_ID["reddit-event"], BY_ID["hubspot-custom_event"]], ids=lambda c: c.id
)
def test_fault_drop_records_but_never_answers(
    emu: EmulatorProcess, client: httpx.Client, case: Case
) -> None:
    rows = batch(case, 2)
    emu.inject(case.destination, "drop")
    with pytest.raises(httpx.RemoteProtocolError):
        send(client, case, rows)
    assert emu.records(case.destination) == identities(case, rows)
    assert case.ok(send(client, case, rows), 2)


def test_fault_slow_answers_normally(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["snapchat-event"]
    emu.inject("snapchat", "slow", delay=0.3)
    started = time.monotonic()
    response = send(client, case, batch(case, 1))
    assert time.monotonic() - started >= 0.3
    assert case.ok(response, 1)


def test_fault_reject_indices(emu: EmulatorProcess, client: httpx.Client) -> None:
    emu.inject("meta", "reject", indices=[1])
    meta = send(client, BY_ID["meta-event"], batch(BY_ID["meta-event"], 2))
    assert meta.status_code == 400 and meta.json()["error"]["code"] == 100
    emu.inject("google_ads", "reject", indices=[0, 2])
    clicks = BY_ID["google_ads-click_conversion"]
    rows = batch(clicks, 3)
    body = send(client, clicks, rows).json()
    indices = [
        e["location"]["fieldPathElements"][0]["index"]
        for e in body["partialFailureError"]["details"][0]["errors"]
    ]
    assert indices == [0, 2] and body["results"][0] == body["results"][2] == {}
    assert emu.records("google_ads") == identities(clicks, rows[1:2])
    emu.inject("hubspot", "reject", indices=[0])
    upsert = send(client, BY_ID["hubspot-contact"], batch(BY_ID["hubspot-contact"], 2))
    assert upsert.status_code == 207 and upsert.json()["numErrors"] == 1
    emu.inject("salesforce", "reject", indices=[1])
    opportunities = BY_ID["salesforce-opportunity"]
    results = send(client, opportunities, batch(opportunities, 2)).json()
    assert [r["success"] for r in results] == [True, False]


def test_clock_drives_age_limits(emu: EmulatorProcess, client: httpx.Client) -> None:
    case = BY_ID["reddit-event"]
    emu.set_clock(CLOCK + dt.timedelta(days=8))
    assert emu.health()["clock"].startswith("2026-10-28T12:00")
    assert send(client, case, batch(case, 1)).status_code == 400
    emu.set_clock(CLOCK)
    assert send(client, case, batch(case, 1)).status_code == 200


def test_routing_and_admin_errors(emu: EmulatorProcess, client: httpx.Client) -> None:
    assert client.post("/nowhere/v1/events").status_code == 404
    assert client.post("/meta/v25.0/1/unknown").status_code == 404
    assert client.get("/meta/v25.0/1/events").status_code == 405
    assert client.post("/_emulator/faults", json={"destination": "meta"}).status_code == 400
    with pytest.raises(ServerError):
        emu.records("nowhere")
    stats = emu.stats()
    # PostHog limits bytes, not events: its cases are in tests/test_posthog.py.
    assert set(stats) == {c.destination for c in CASES} | {"posthog"}
    assert set(stats["meta"]) == {
        "requests", "accepted_requests", "rejected_requests", "received", "unique",
        "duplicates", "rejected_events", "test_events",
    }  # fmt: skip


def test_dedup_identity_rules() -> None:
    first, retry = meta_event(1), meta_event(1)
    retry["event_time"] += 5
    assert dedup_identity("meta", "event", first) == dedup_identity("meta", "event", retry)
    no_order = click_conversion(1)
    del no_order["orderId"]
    later = dict(no_order, conversionDateTime="2026-10-20 11:30:00+00:00")
    assert dedup_identity("google_ads", "click_conversion", no_order) != dedup_identity(
        "google_ads", "click_conversion", later
    )
    changed = lead(1)
    changed["Company"] = "Acme 2"
    assert dedup_identity("salesforce", "lead", lead(1)) != dedup_identity(
        "salesforce", "lead", changed
    )
    custom = dedup_identity("salesforce", "lead", lead(1), id_field="Email")
    assert custom.startswith("lead:Email=user1@acme.example|")
    with pytest.raises(ValueError, match="no dedup rule"):
        dedup_identity("nowhere", "event", {})


def test_create_app_serves_in_process() -> None:
    async def run() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=create_app(CLOCK))
        async with httpx.AsyncClient(transport=transport, base_url="http://emu") as http:
            sent = await http.post(
                "/tiktok/open_api/v1.3/event/track/",
                headers={"Access-Token": "t"},
                json={"event_source": "web", "event_source_id": "p", "data": [tiktok_event(0)]},
            )
            return sent, await http.get("/_emulator/stats")

    sent, stats = asyncio.run(run())
    assert sent.json()["code"] == 0
    assert stats.json()["tiktok"]["unique"] == 1
