"""Self-tests of tests/receiver.py, the platform receiver written from the platforms'
documentation (the request bodies are shaped like the project's payload previews)."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.receiver import ALL, Always, Answer, Every, Receiver, echo_forms

TOKEN = "EAAB/tok+en=="
EMAIL_HASH = "3fb0a2879a0df03733407d43231bda718e83ea1c1f7c86e94ac89c149edbc3e2"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
GOOGLE_ADS = {**BEARER, "developer-token": "dev-token"}
LINKEDIN = {**BEARER, "LinkedIn-Version": "202603", "X-Restli-Protocol-Version": "2.0.0",
            "X-RestLi-Method": "BATCH_CREATE"}  # fmt: skip
SNAP_PIXEL = "a1b2c3d4-0000-4000-8000-000000000001"
SF_LEAD = "/services/data/v62.0/composite/sobjects/Lead/TrackStack_Email__c"
SF_OPPORTUNITY = "/services/data/v62.0/composite/sobjects/Opportunity/TrackStack_Order_Id__c"


def meta_event(event_id: str, name: str = "Purchase") -> dict[str, Any]:
    """A Meta server event shaped like the project's payload preview."""
    return {
        "event_name": name,
        "event_time": 1792580782,
        "event_id": event_id,
        "action_source": "website",
        "event_source_url": "https://app1.example.com/app",
        "user_data": {"em": [EMAIL_HASH], "client_ip_address": "203.0.191.1",
                      "client_user_agent": UA},
        "custom_data": {"value": 99.0, "currency": "USD", "order_id": f"txn_{event_id}"},
    }  # fmt: skip


def lead(email: str) -> dict[str, Any]:
    """A Salesforce Lead record as the project builds it."""
    return {
        "attributes": {"type": "Lead"},
        "TrackStack_Email__c": email,
        "Email": email,
        "FirstName": "Margaret",
        "LastName": "Hopper",
        "Company": "Acme 20 Inc.",
        "LeadSource": "TrackStack",
        "TrackStack_Last_Event__c": "LeadCaptured",
        "TrackStack_Last_Event_At__c": "2026-09-03T07:40:43.370Z",
    }


def deal(order_id: str) -> dict[str, Any]:
    """A HubSpot deal upsert input as the project builds it."""
    return {
        "idProperty": "trackstack_order_id",
        "id": order_id,
        "properties": {"dealname": f"Acme 4 Inc. - Growth {order_id}", "amount": "99.00",
                       "deal_currency_code": "USD", "closedate": "2026-09-05T12:57:07.159Z",
                       "dealstage": "closedwon", "pipeline": "default"},
    }  # fmt: skip


@dataclass
class Case:
    """One documented success: the request and what the receiver must answer."""

    destination: str
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    status: int
    keys: list[Any]
    check: Callable[[Any], bool] = field(default=lambda body: True)


CASES = [
    Case("meta", "POST", f"/v25.0/100000000000001/events?access_token={TOKEN.replace('+', '%2B')}",
         {}, {"data": [meta_event("e-1"), meta_event("e-2", "Lead")]}, 200,
         [("Purchase", "e-1"), ("Lead", "e-2")],
         lambda b: b["events_received"] == 2 and b["messages"] == [] and b["fbtrace_id"]),
    Case("google_ads", "POST", "/v1/events:ingest", BEARER, {
        "destinations": [{"reference": "700000001", "productDestinationId": "700000001",
                          "operatingAccount": {"accountType": "GOOGLE_ADS",
                                               "accountId": "1234567890"}}],
        "events": [{"destinationReferences": ["700000001"],
                    "transactionId": "3119b53b4d0d5aa8-000004a6",
                    "eventTimestamp": "2026-09-03T07:40:43.370Z", "eventSource": "WEB",
                    "adIdentifiers": {"gclid": "Cj0K2d5de6706b"},
                    "userData": {"userIdentifiers": [{"emailAddress": EMAIL_HASH}]}}],
        "encoding": "HEX"}, 200, ["3119b53b4d0d5aa8-000004a6"], lambda b: b["requestId"]),
    Case("google_ads", "POST", "/v24/customers/1234567890:uploadClickConversions", GOOGLE_ADS, {
        "conversions": [
            {"gclid": "Cj0K2d5de6706b",
             "conversionAction": "customers/1234567890/conversionActions/700000001",
             "conversionDateTime": "2026-09-03 07:40:43+00:00",
             "orderId": "3119b53b4d0d5aa8-000004a6",
             "userIdentifiers": [{"hashedEmail": EMAIL_HASH}], "conversionEnvironment": "WEB"},
            {"gclid": "Cj0Kabc",
             "conversionAction": "customers/1234567890/conversionActions/700000003",
             "conversionDateTime": "2026-09-03 10:24:51+00:00"}],
        "partialFailure": True, "validateOnly": False}, 200,
         ["3119b53b4d0d5aa8-000004a6", ("Cj0Kabc", "2026-09-03 10:24:51+00:00")],
         lambda b: len(b["results"]) == 2 and b["results"][0]["gclid"] == "Cj0K2d5de6706b"
         and b["jobId"]),
    Case("google_ads", "POST", "/v24/customers/1234567890:uploadConversionAdjustments",
         GOOGLE_ADS, {"conversionAdjustments": [
             {"adjustmentType": "RESTATEMENT",
              "conversionAction": "customers/1234567890/conversionActions/700000006",
              "orderId": "txn_9e09b7fe37", "adjustmentDateTime": "2026-09-13 01:04:53+00:00",
              "restatementValue": {"adjustedValue": 249.5, "currencyCode": "GBP"}}],
             "partialFailure": True, "validateOnly": False}, 200, ["txn_9e09b7fe37"],
         lambda b: b["results"][0]["orderId"] == "txn_9e09b7fe37"),
    Case("linkedin", "POST", "/rest/conversionEvents", LINKEDIN, {"elements": [
        {"conversion": "urn:lla:llaPartnerConversion:18000001",
         "conversionHappenedAt": 1788421243370, "eventId": "3119b53b4d0d5aa8-000004a6",
         "user": {"userIds": [{"idType": "SHA256_EMAIL", "idValue": EMAIL_HASH}],
                  "userInfo": {"firstName": "Margaret", "lastName": "Hopper"}}}]}, 200,
         ["3119b53b4d0d5aa8-000004a6"], lambda b: b == {"elements": [{"status": 201}]}),
    Case("tiktok", "POST", "/open_api/v1.3/event/track/", {"Access-Token": TOKEN}, {
        "event_source": "web", "event_source_id": "C4TESTPIXEL0001",
        "data": [{"event": "AdLandingPageView", "event_time": 1790759791,
                  "event_id": "1609aa1ed176b14e-00000378",
                  "user": {"email": EMAIL_HASH, "ip": "203.0.110.1", "user_agent": UA},
                  "page": {"url": "https://app0.example.com/lp/demo"}}]}, 200,
         [("AdLandingPageView", "1609aa1ed176b14e-00000378")],
         lambda b: b["code"] == 0 and b["message"] == "OK" and b["request_id"]),
    Case("snapchat", "POST",
         f"/v3/{SNAP_PIXEL}/events?access_token={TOKEN.replace('+', '%2B')}",
         {}, {"data": [{"event_name": "PAGE_VIEW", "event_time": 1790000429,
                        "event_id": "3604224cfdc8dd59-00000060", "action_source": "WEB",
                        "user_data": {"em": [EMAIL_HASH], "client_user_agent": UA}}]}, 200,
         [("PAGE_VIEW", "3604224cfdc8dd59-00000060")], lambda b: b["status"] == "VALID"),
    Case("reddit", "POST", "/api/v3/pixels/t2_demo0001/conversion_events", BEARER, {"data": {
        "events": [{"event_at": 1792580782619, "action_source": "WEBSITE",
                    "type": {"tracking_type": "CUSTOM", "custom_event_name": "SalesQualifiedLead"},
                    "metadata": {"conversion_id": "5c21b20388755eef-00000262"},
                    "user": {"email": EMAIL_HASH, "user_agent": UA}}]}}, 200,
         ["5c21b20388755eef-00000262"], lambda b: "1 conversion events" in b["message"]),
    Case("hubspot", "POST", "/events/v3/send/batch", BEARER, {"inputs": [
        {"eventName": "pe4455667_lead_captured", "occurredAt": "2026-09-03T07:40:43.370Z",
         "email": "margaret.340@acme20.example", "uuid": "ef3cbe78-4cbf-a96e-a997-a6e99d0d5d80",
         "properties": {"company_name": "Acme 20 Inc."}},
        {"eventName": "pe4455667_sign_up", "occurredAt": "2026-09-03T08:00:00.000Z",
         "objectId": "901", "properties": {}}]}, 204,
         ["ef3cbe78-4cbf-a96e-a997-a6e99d0d5d80",
          ("pe4455667_sign_up", "901", "2026-09-03T08:00:00.000Z")], lambda b: b is None),
    Case("hubspot", "POST", "/crm/v3/objects/deals/batch/upsert", BEARER,
         {"inputs": [deal("txn_c26fe56aea"), deal("txn_2")]}, 200,
         [("deals", "txn_c26fe56aea"), ("deals", "txn_2")],
         lambda b: b["status"] == "COMPLETE" and [r["new"] for r in b["results"]] == [True] * 2),
    Case("hubspot", "POST", "/crm/v3/objects/contacts/batch/upsert", BEARER, {"inputs": [
        {"idProperty": "email", "id": "barbara.2502@acme22.example",
         "properties": {"trackstack_churned_at": "2026-09-15T19:43:17.000Z"}}]}, 200,
         [("contacts", "barbara.2502@acme22.example")], lambda b: len(b["results"]) == 1),
    Case("salesforce", "PATCH", SF_OPPORTUNITY, BEARER, {"allOrNone": False, "records": [
        {"attributes": {"type": "Opportunity"}, "TrackStack_Order_Id__c": "txn_c26fe56aea",
         "Name": "Acme 4 Inc. - Growth txn_c26fe56aea", "Amount": 99.0,
         "CloseDate": "2026-09-05", "StageName": "Closed Won"}]}, 200,
         [("Opportunity", "txn_c26fe56aea")],
         lambda b: b[0]["success"] and b[0]["created"] and b[0]["id"].startswith("006")
         and b[0]["errors"] == []),
    Case("salesforce", "PATCH", SF_LEAD, BEARER,
         {"allOrNone": False, "records": [lead("a@acme.example"), lead("b@acme.example")]}, 200,
         [("Lead", "a@acme.example"), ("Lead", "b@acme.example")],
         lambda b: [r["id"][:3] for r in b] == ["00Q", "00Q"]),
]  # fmt: skip


@pytest.fixture
def rx() -> Iterator[Receiver]:
    with Receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5) as c:
        yield c


def send(client: httpx.Client, rx: Receiver, case: Case, **changes: Any) -> httpx.Response:
    """Send a case's request, with ``path``, ``headers`` or ``body`` changed."""
    headers = changes.get("headers", case.headers)
    return client.request(
        case.method, rx.base_for(case.destination) + changes.get("path", case.path),
        headers=headers, json=changes.get("body", case.body),
    )  # fmt: skip


def body_of(response: httpx.Response) -> Any:
    """The JSON body, None when empty."""
    return response.json() if response.content else None


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.destination}{c.path.split('?')[0]}")
def test_documented_success_and_keys(rx: Receiver, client: httpx.Client, case: Case) -> None:
    response = send(client, rx, case)
    assert response.status_code == case.status, response.text
    assert case.check(body_of(response)), response.text
    assert rx.received(case.destination) == case.keys
    (request,) = rx.requests(case.destination)
    assert (request.status, request.elements, request.written) == (case.status, len(case.keys),
                                                                    len(case.keys))  # fmt: skip
    assert json.loads(request.body) == case.body
    assert rx.errors == []


def test_hubspot_events_without_batch_or_uuid(rx: Receiver, client: httpx.Client) -> None:
    event = {"eventName": "pe1_x", "occurredAt": "2026-09-03T08:00:00Z", "email": "a@b.example"}
    response = client.post(rx.base_for("hubspot") + "/events/v3/send", headers=BEARER, json=event)
    assert response.status_code == 204
    assert rx.received("hubspot") == [("pe1_x", "a@b.example", "2026-09-03T08:00:00Z")]


@pytest.mark.parametrize(
    ("case", "status", "shape"),
    [
        (CASES[0], 400, lambda b: b["error"]["type"] == "OAuthException"),
        (CASES[1], 401, lambda b: b["error"]["status"] == "UNAUTHENTICATED"),
        (CASES[4], 401, lambda b: b["serviceErrorCode"] == 65600),
        (CASES[5], 200, lambda b: b["code"] != 0),
        (CASES[6], 401, lambda b: b["status"] == "INVALID"),
        (CASES[7], 401, lambda b: b["error"]["reason"] == "UNAUTHORIZED"),
        (CASES[8], 401, lambda b: b["category"] == "INVALID_AUTHENTICATION"),
        (CASES[11], 401, lambda b: b[0]["errorCode"] == "INVALID_SESSION_ID"),
    ],
    ids=lambda v: v.destination if isinstance(v, Case) else None,
)
def test_missing_credential(
    rx: Receiver, client: httpx.Client, case: Case, status: int, shape: Callable[[Any], bool]
) -> None:
    path = case.path.split("?")[0]
    headers = {k: v for k, v in case.headers.items() if k not in ("Authorization", "Access-Token")}
    response = send(client, rx, case, path=path, headers=headers)
    assert response.status_code == status
    assert shape(response.json()), response.text
    assert rx.received(case.destination) == []


def test_google_ads_api_needs_the_developer_token(rx: Receiver, client: httpx.Client) -> None:
    response = send(client, rx, CASES[2], headers=BEARER)
    assert response.status_code == 401
    (error,) = response.json()["error"]["details"][0]["errors"]
    assert error["errorCode"] == {"authenticationError": "DEVELOPER_TOKEN_PARAMETER_MISSING"}


def test_every_fifth_and_seventh(rx: Receiver, client: httpx.Client) -> None:
    rx.every(5, 429, b'{"error": "rate limited"}', "application/json", {"Retry-After": "1"},
             destination="meta")  # fmt: skip
    page = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"
    rx.every(7, 503, page, "text/html", destination="meta")
    statuses = []
    for i in range(1, 36):
        body = {"data": [meta_event(f"e-{i}")]}
        response = send(client, rx, CASES[0], body=body)
        statuses.append(response.status_code)
        if i % 5 == 0:
            assert response.headers["retry-after"] == "1"
            assert response.json() == {"error": "rate limited"}
        elif i % 7 == 0:
            assert response.headers["content-type"] == "text/html"
            assert response.content == page
    assert [i for i, s in enumerate(statuses, 1) if s == 429] == [5, 10, 15, 20, 25, 30, 35]
    assert [i for i, s in enumerate(statuses, 1) if s == 503] == [7, 14, 21, 28]
    assert statuses.count(200) == 24
    faulted = {("Purchase", f"e-{i}") for i in range(1, 36) if i % 5 == 0 or i % 7 == 0}
    assert len(rx.received("meta")) == 24
    assert rx.unique("meta").isdisjoint(faulted)
    assert [r.fault for r in rx.requests("meta")][4:7] == ["every", None, "every"]


def test_fault_counter_is_thread_safe(rx: Receiver, client: httpx.Client) -> None:
    rx.every(5, 429, b'{"error": "rate limited"}')
    url = rx.base_for("tiktok") + "/open_api/v1.3/event/track/"

    def post(i: int) -> int:
        body = {"event_source": "web", "data": [{"event": "Purchase", "event_id": f"t-{i}"}]}
        return client.post(url, headers={"Access-Token": TOKEN}, json=body).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(60)))
    assert statuses.count(429) == 12
    assert sorted(r.seq for r in rx.requests("tiktok")) == list(range(1, 61))
    assert len(rx.unique("tiktok")) == 48


def test_faults_for_all_count_per_destination(rx: Receiver, client: httpx.Client) -> None:
    rx.every(2, 500, b'{"error": "boom"}')
    meta = [send(client, rx, CASES[0]).status_code for _ in range(2)]
    reddit = [send(client, rx, CASES[7]).status_code for _ in range(2)]
    assert meta == reddit == [200, 500]


def test_precedence(rx: Receiver, client: httpx.Client) -> None:
    rx.always(502, b"bad gateway", "text/plain")
    rx.always(418, b"{}", destination="meta")
    rx.every(3, 429, b"{}")
    statuses = [send(client, rx, CASES[0]).status_code for _ in range(3)]
    assert statuses == [418, 418, 429]
    assert send(client, rx, CASES[7]).status_code == 502
    rx.clear_faults()
    assert send(client, rx, CASES[0]).status_code == 200


def test_faults_set_at_construction(client: httpx.Client) -> None:
    faults = {"reddit": [Every(2, Answer(503, b"{}"))], ALL: [Always(Answer(502, b"{}"))]}
    with Receiver(faults=faults) as rx:
        assert [send(client, rx, CASES[7]).status_code for _ in range(2)] == [502, 503]
        assert send(client, rx, CASES[0]).status_code == 502


def test_success_answered_by_a_fault_counts(rx: Receiver, client: httpx.Client) -> None:
    rx.every(1, 200, b"<html>ok</html>", "text/html", destination="meta")
    assert send(client, rx, CASES[0]).text == "<html>ok</html>"
    assert rx.received("meta") == CASES[0].keys


def test_tiktok_throttle_inside_http_200(rx: Receiver, client: httpx.Client) -> None:
    throttled = b'{"code": 40100, "message": "Too many requests. Please retry in some time."}'
    rx.every(2, 200, throttled, destination="tiktok")
    assert [send(client, rx, CASES[5]).json()["code"] for _ in range(2)] == [0, 40100]
    assert len(rx.received("tiktok")) == 1


@pytest.mark.parametrize("case", [CASES[0], CASES[6], CASES[5], CASES[11], CASES[2]],
                         ids=lambda c: c.destination)  # fmt: skip
def test_echo_credential_in_every_form(rx: Receiver, client: httpx.Client, case: Case) -> None:
    rx.echo_credential(400)
    response = send(client, rx, case)
    assert response.status_code == 400
    forms = echo_forms(TOKEN)
    for name in ("json", "url", "base64"):
        assert forms[name] in response.text, name
    assert TOKEN in response.text  # no character of this token needs JSON escaping
    assert "Cannot parse access token" in json.dumps(response.json())
    assert rx.received(case.destination) == []


def test_echo_credential_escapes_and_text(rx: Receiver, client: httpx.Client) -> None:
    token = 'tok"en\\/+= x'
    forms = echo_forms(token)
    assert len(set(forms.values())) == 4
    rx.echo_credential(401, destination="hubspot")
    url = rx.base_for("hubspot") + "/crm/v3/objects/deals/batch/upsert"
    response = client.post(url, headers={"Authorization": f"Bearer {token}"}, json={"inputs": []})
    assert response.json()["category"] == "VALIDATION_ERROR"
    for name in ("json", "url", "base64"):
        assert forms[name] in response.text, name
    assert token in response.json()["message"]
    rx.clear_faults()
    rx.echo_credential(400, as_text=True)
    response = send(client, rx, CASES[5], headers={"Access-Token": token})
    assert response.headers["content-type"] == "text/plain"
    for form in forms.values():
        assert form in response.text


def test_salesforce_limit_info_and_limits(client: httpx.Client) -> None:
    with Receiver(salesforce_usage=40, salesforce_daily_max=45) as rx:
        usages = [send(client, rx, CASES[12]).headers["sforce-limit-info"] for _ in range(3)]
        assert usages == ["api-usage=41/45", "api-usage=42/45", "api-usage=43/45"]
        limits = client.get(rx.base_for("salesforce") + "/services/data/v62.0/limits",
                            headers=BEARER)  # fmt: skip
        assert limits.json()["DailyApiRequests"] == {"Max": 45, "Remaining": 1}
        assert limits.headers["sforce-limit-info"] == "api-usage=44/45"
        assert send(client, rx, CASES[12]).status_code == 200
        over = send(client, rx, CASES[12])
        assert over.status_code == 403
        assert over.json()[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
        assert over.headers["sforce-limit-info"] == "api-usage=46/45"
        assert rx.salesforce_api_usage() == 46


def test_salesforce_rows(rx: Receiver, client: httpx.Client) -> None:
    first = send(client, rx, CASES[12]).json()
    again = send(client, rx, CASES[12]).json()
    assert [r["created"] for r in first] == [True, True]
    assert [r["created"] for r in again] == [False, False]
    assert [r["id"] for r in first] == [r["id"] for r in again]
    records = [lead("c@acme.example"), lead("c@acme.example"), lead("d@acme.example"),
               {**lead("x"), "TrackStack_Email__c": None}]  # fmt: skip
    rows = send(client, rx, CASES[12], body={"allOrNone": False, "records": records}).json()
    codes = [r["errors"][0]["statusCode"] if r["errors"] else None for r in rows]
    assert codes == ["DUPLICATE_EXTERNAL_ID", "DUPLICATE_EXTERNAL_ID", None, "MISSING_ARGUMENT"]
    assert rx.counts("salesforce")[("Lead", "d@acme.example")] == 1
    assert ("Lead", "c@acme.example") not in rx.unique("salesforce")
    rows = send(client, rx, CASES[12], body={"allOrNone": True, "records": records}).json()
    assert not any(r["success"] for r in rows)
    assert rx.counts("salesforce")[("Lead", "d@acme.example")] == 1
    too_many = {"allOrNone": False, "records": [lead(f"{i}@a.example") for i in range(201)]}
    response = send(client, rx, CASES[12], body=too_many)
    assert (response.status_code, response.json()[0]["errorCode"]) == (400, "EXCEEDED_ID_LIMIT")


def test_salesforce_single_upsert(rx: Receiver, client: httpx.Client) -> None:
    url = rx.base_for("salesforce") + "/services/data/v62.0/sobjects/Lead/TrackStack_Email__c/"
    record = {"LastName": "Hopper", "Company": "Acme"}
    first = client.patch(url + "m%40acme.example", headers=BEARER, json=record)
    again = client.patch(url + "m%40acme.example", headers=BEARER, json=record)
    assert (first.status_code, first.json()["created"]) == (201, True)
    assert (again.status_code, again.json()["created"]) == (200, False)
    assert rx.received("salesforce") == [("Lead", "m@acme.example")] * 2


def test_hubspot_upserts(rx: Receiver, client: httpx.Client) -> None:
    again = send(client, rx, CASES[9], body={"inputs": [deal("txn_2")]})
    assert again.json()["results"][0]["new"] is True
    assert send(client, rx, CASES[9]).json()["results"][1]["new"] is False
    duplicated = send(client, rx, CASES[9], body={"inputs": [deal("a"), deal("a")]})
    assert duplicated.status_code == 400
    assert duplicated.json()["category"] == "VALIDATION_ERROR"
    too_many = send(client, rx, CASES[9], body={"inputs": [deal(str(i)) for i in range(101)]})
    assert too_many.status_code == 400
    assert rx.counts("hubspot", "deals") == {("deals", "txn_2"): 2, ("deals", "txn_c26fe56aea"): 1}


def test_refused_versions(client: httpx.Client) -> None:
    with Receiver(refused_versions={"google_ads": ["v22"]}) as rx:
        old = send(client, rx, CASES[2], path=CASES[2].path.replace("v24", "v22"))
        assert old.status_code == 404
        assert old.headers["content-type"].startswith("text/html")
        assert send(client, rx, CASES[2]).status_code == 200
        rx.refuse_versions("linkedin", "202401")
        gone = send(client, rx, CASES[4], headers={**LINKEDIN, "LinkedIn-Version": "202401"})
        assert (gone.status_code, gone.json()["code"]) == (426, "NONEXISTENT_VERSION")
        unimplemented = Answer(501, b'{"error": {"code": 501, "status": "UNIMPLEMENTED"}}')
        rx.refuse_versions("google_ads", "v23", answer=unimplemented)
        path = CASES[3].path.replace("v24", "v23")
        assert send(client, rx, CASES[3], path=path).status_code == 501
        assert [r.version for r in rx.requests("google_ads")] == ["v22", "v24", "v23"]
        assert len(rx.received("google_ads")) == 2


def test_validate_only_is_not_received(rx: Receiver, client: httpx.Client) -> None:
    body = {**CASES[2].body, "validateOnly": True}
    assert send(client, rx, CASES[2], body=body).json() == {}
    path = CASES[6].path.replace("/events?", "/events/validate?")
    checked = send(client, rx, CASES[6], path=path).json()
    assert checked["event_logs"][0]["status"] == "VALID"
    assert rx.received("google_ads") == rx.received("snapchat") == []


def test_bad_bodies(rx: Receiver, client: httpx.Client) -> None:
    url = rx.base_for("meta") + CASES[0].path
    assert client.post(url, content=b"{not json").status_code == 400
    assert client.post(url, json={"events": []}).json()["error"]["type"] == "OAuthException"
    over = send(client, rx, CASES[0], body={"data": [meta_event(str(i)) for i in range(1001)]})
    assert over.status_code == 400
    body = {**CASES[2].body, "partialFailure": False}
    assert send(client, rx, CASES[2], body=body).status_code == 400
    assert client.post(rx.base_for("meta") + "/v25.0/1/nothing").status_code == 404
    assert client.post(rx.base_for("nowhere") + "/x").status_code == 404
    assert rx.received("meta") == [] and rx.errors == []


def test_meta_form_body(rx: Receiver, client: httpx.Client) -> None:
    form = {"data": json.dumps([meta_event("f-1")]), "access_token": TOKEN}
    response = client.post(rx.base_for("meta") + "/v25.0/1/events", data=form)
    assert response.json()["events_received"] == 1
    assert rx.received("meta") == [("Purchase", "f-1")]


def test_drop_and_delay(rx: Receiver, client: httpx.Client) -> None:
    rx.drop(1, destination="reddit")
    with pytest.raises(httpx.RemoteProtocolError):
        send(client, rx, CASES[7])
    assert rx.received("reddit") == []
    rx.drop(1, destination="reddit", after_processing=True)
    with pytest.raises(httpx.RemoteProtocolError):
        send(client, rx, CASES[7])
    assert send(client, rx, CASES[7]).status_code == 200
    assert rx.counts("reddit") == {"5c21b20388755eef-00000262": 2}
    assert [(r.fault, r.status) for r in rx.requests("reddit")] == [
        ("drop", None), ("drop", None), (None, 200)]  # fmt: skip
    rx.delay(0.3, times=1, destination="tiktok")
    started = time.perf_counter()
    send(client, rx, CASES[5])
    assert time.perf_counter() - started >= 0.3
    started = time.perf_counter()
    send(client, rx, CASES[5])
    assert time.perf_counter() - started < 0.3


def test_delay_is_cut_by_close(client: httpx.Client) -> None:
    rx = Receiver().start()
    rx.delay(30, destination=ALL)
    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pending = pool.submit(send, client, rx, CASES[7])
        time.sleep(0.2)
        rx.close()
        with pytest.raises(httpx.HTTPError):
            pending.result(timeout=5)
    assert time.perf_counter() - started < 5


def test_reset(rx: Receiver, client: httpx.Client) -> None:
    rx.every(2, 503, b"")
    send(client, rx, CASES[0])
    rx.reset()
    assert rx.requests("meta") == [] and rx.received("meta") == []
    assert send(client, rx, CASES[0]).status_code == 200
    assert send(client, rx, CASES[0]).status_code == 503
