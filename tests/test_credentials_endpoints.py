"""The auth plane of the emulator and of the independent receiver, driven over HTTP:
token endpoints (refresh-token, JWT bearer and service-account grants) and their
switches, every platform's answer to an expired, revoked or under-scoped token, and the
credential-check calls (answered at once: no fault, no request count)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.receiver import Receiver
from trackstack_lab.emulator import EmulatorProcess
from trackstack_lab.emulator.keys import private_key_pem

PIXEL = "100000000000001"
CHECKS = {
    "meta": ("GET", f"/meta/v26.0/{PIXEL}?fields=id", "query"),
    "google_ads": ("GET", "/google_ads/v1/requestStatus:retrieve?requestId=abc", "bearer"),
    "linkedin": ("GET", "/linkedin/rest/adAccountUsers?q=authenticatedUser", "bearer"),
    "tiktok": ("GET", "/tiktok/open_api/v1.3/user/info/", "tiktok"),
    "snapchat": ("GET", "/snapchat/v1/me", "bearer"),
    "reddit": ("GET", "/reddit/api/v3/me", "bearer"),
    "hubspot": ("GET", "/hubspot/account-info/v3/details", "bearer"),
    "salesforce": ("GET", "/salesforce/services/data/v66.0/limits", "bearer"),
    "posthog": ("POST", "/posthog/flags/?v=2", "body"),
}
"""Each platform's credential check and where it reads the token."""
DATA = {
    "meta": ("POST", f"/meta/v26.0/{PIXEL}/events", "query"),
    "google_ads": ("POST", "/google_ads/v1/events:ingest", "bearer"),
    "linkedin": ("POST", "/linkedin/rest/conversionEvents", "bearer"),
    "tiktok": ("POST", "/tiktok/open_api/v1.3/event/track/", "tiktok"),
    "snapchat": ("POST", "/snapchat/v3/pixel-1/events", "query"),
    "reddit": ("POST", "/reddit/api/v3/pixels/t2_x/conversion_events", "bearer"),
    "hubspot": ("POST", "/hubspot/events/v3/send/batch", "bearer"),
    "salesforce": (
        "PATCH",
        "/salesforce/services/data/v66.0/composite/sobjects/Lead/TrackStack_Email__c",
        "bearer",
    ),
    "posthog": ("POST", "/posthog/batch/", "body"),
}
"""A delivery route per platform (bodies do not matter: a bad token is refused first)."""


@pytest.fixture(scope="module")
def emu() -> Iterator[EmulatorProcess]:
    with EmulatorProcess() as process:
        yield process


@pytest.fixture
def client(emu: EmulatorProcess) -> Iterator[httpx.Client]:
    emu.reset()
    with httpx.Client(base_url=emu.base_url, timeout=10.0) as http:
        yield http


def call(
    client: httpx.Client, route: tuple[str, str, str], token: str, **extra: str
) -> httpx.Response:
    method, path, style = route
    headers = dict(extra)
    if style == "query":
        path += ("&" if "?" in path else "?") + f"access_token={token}"
    elif style == "tiktok":
        headers["Access-Token"] = token
    elif style == "body":  # PostHog: the project key is the body's api_key
        return client.request(method, path, headers=headers, json={"api_key": token})
    else:
        headers["Authorization"] = f"Bearer {token}"
    return client.request(method, path, headers=headers, json={})


def refresh(client: httpx.Client, path: str, refresh_token: str = "rt-1") -> httpx.Response:
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": "app", "client_secret": "s3cret"}  # fmt: skip
    return client.post(path, data=data)


def assertion(claims: dict[str, Any]) -> str:
    key = RSAKey.import_key(private_key_pem())
    now = int(time.time())
    return jwt.encode({"alg": "RS256"}, {"iat": now, "exp": now + 180, **claims}, key)


JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EXPIRED_ANSWERS = {
    "meta": (401, lambda b: (b["error"]["code"], b["error"]["error_subcode"]) == (190, 463)),
    "google_ads": (401, lambda b: b["error"]["details"][0]["reason"] == "ACCESS_TOKEN_EXPIRED"),
    "linkedin": (401, lambda b: b["code"] == "EXPIRED_ACCESS_TOKEN"),
    "tiktok": (200, lambda b: b["code"] == 40102),
    "snapchat": (401, lambda b: "expired" in b["reason"]),
    "reddit": (401, lambda b: "expired" in b["error"]["explanation"]),
    "hubspot": (401, lambda b: b["category"] == "EXPIRED_AUTHENTICATION"),
    "salesforce": (401, lambda b: b[0]["errorCode"] == "INVALID_SESSION_ID"),
    "posthog": (401, lambda b: b["code"] == "invalid_api_key"),  # one answer for any bad key
}
SCOPE_ANSWERS = {
    "meta": (403, lambda b: b["error"]["code"] == 200),
    "google_ads": (403, lambda b: b["error"]["status"] == "PERMISSION_DENIED"),
    "linkedin": (403, lambda b: b["code"] == "ACCESS_DENIED"),
    "tiktok": (200, lambda b: b["code"] == 40001),
    "snapchat": (403, lambda b: b["status"] == "INVALID"),
    "reddit": (403, lambda b: b["error"]["reason"] == "FORBIDDEN"),
    "hubspot": (403, lambda b: b["category"] == "MISSING_SCOPES"),
    "salesforce": (403, lambda b: b[0]["errorCode"] == "INVALID_SESSION_ID"),
    "posthog": (401, lambda b: b["code"] == "invalid_api_key"),
}


@pytest.mark.parametrize("destination", sorted(CHECKS))
def test_every_route_answers_expired_and_under_scoped_tokens_as_its_platform_does(
    client: httpx.Client, destination: str
) -> None:
    for prefix, answers in (("expired", EXPIRED_ANSWERS), ("noscope", SCOPE_ANSWERS)):
        status, expected = answers[destination]
        for route in (CHECKS[destination], DATA[destination]):
            response = call(client, route, f"{prefix}-token-1")
            assert response.status_code == status, (route, response.text)
            assert expected(response.json()), response.text
    ok = call(client, CHECKS[destination], "good-token")
    assert ok.status_code == (404 if destination == "google_ads" else 200), ok.text


def test_issued_tokens_expire_after_the_lifetime_tests_set(
    emu: EmulatorProcess, client: httpx.Client
) -> None:
    emu.set_auth("linkedin", token_lifetime=1)
    issued = refresh(client, "/linkedin/oauth/v2/accessToken")
    assert issued.status_code == 200, issued.text
    doc = issued.json()
    assert (doc["expires_in"], doc["refresh_token"]) == (1, "rt-1")
    token = doc["access_token"]
    assert call(client, CHECKS["linkedin"], token).status_code == 200
    time.sleep(1.1)
    expired = call(client, DATA["linkedin"], token)
    assert expired.status_code == 401 and expired.json()["code"] == "EXPIRED_ACCESS_TOKEN"
    stats = emu.auth_stats()["linkedin"]
    assert (stats["tokens_issued"], stats["checks"], stats["token_lifetime"]) == (1, 1, 1.0)
    assert emu.stats()["linkedin"]["requests"] == 1  # the data call; not the check


def test_the_revoked_and_wrong_scope_switches(emu: EmulatorProcess, client: httpx.Client) -> None:
    emu.set_auth("hubspot", wrong_scope=True)
    token = refresh(client, "/hubspot/oauth/v1/token").json()["access_token"]
    assert call(client, DATA["hubspot"], token).json()["category"] == "MISSING_SCOPES"
    emu.set_auth("hubspot", revoked=True)
    refused = refresh(client, "/hubspot/oauth/v1/token")
    assert refused.status_code == 400 and refused.json()["status"] == "BAD_REFRESH_TOKEN"
    revoked = call(client, DATA["hubspot"], token)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["message"]
    assert emu.auth_stats()["hubspot"]["grants_refused"] == 1
    emu.reset()  # switches back off
    assert refresh(client, "/hubspot/oauth/v1/token").status_code == 200


def test_refresh_grants_check_the_client(client: httpx.Client) -> None:
    bad = client.post("/linkedin/oauth/v2/accessToken",
                      data={"grant_type": "refresh_token", "refresh_token": "rt"})  # fmt: skip
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    # Reddit takes the app's credentials as HTTP Basic only.
    assert refresh(client, "/reddit/api/v1/access_token").json()["error"] == "invalid_client"
    basic = base64.b64encode(b"app:s3cret").decode()
    answer = client.post("/reddit/api/v1/access_token",
                         data={"grant_type": "refresh_token", "refresh_token": "rt"},
                         headers={"Authorization": f"Basic {basic}"})  # fmt: skip
    assert answer.status_code == 200 and answer.json()["scope"] == "adsconversions adsread"
    unknown = client.post("/snapchat/login/oauth2/access_token", data={"grant_type": "password"})
    assert unknown.json()["error"] == "unsupported_grant_type"
    assert client.post("/meta/oauth/token").status_code == 404  # Meta has no token endpoint


def test_jwt_bearer_grants_check_the_assertion(client: httpx.Client) -> None:
    path = "/salesforce/services/oauth2/token"
    claims = {"iss": "3MVG9", "sub": "integration@acme.example",
              "aud": "https://login.salesforce.com"}  # fmt: skip
    good = client.post(path, data={"grant_type": JWT_GRANT, "assertion": assertion(claims)})
    assert good.status_code == 200 and "expires_in" not in good.json()  # as Salesforce
    wrong_aud = assertion({**claims, "aud": "https://evil.example"})
    refused = client.post(path, data={"grant_type": JWT_GRANT, "assertion": wrong_aud})
    assert refused.json() == {"error": "invalid_grant", "error_description": "audience is invalid"}
    google = {"iss": "sa@p.iam.gserviceaccount.com", "aud": "http://emu/google_ads/token"}
    no_scope = client.post("/google_ads/token", data={"grant_type": JWT_GRANT,
                                                      "assertion": assertion(google)})  # fmt: skip
    assert no_scope.json()["error"] == "invalid_scope"
    scoped = {**google, "scope": "https://www.googleapis.com/auth/datamanager"}
    issued = client.post("/google_ads/token", data={"grant_type": JWT_GRANT,
                                                    "assertion": assertion(scoped)})  # fmt: skip
    assert issued.status_code == 200 and issued.json()["expires_in"] == 3600
    garbage = client.post(path, data={"grant_type": JWT_GRANT, "assertion": "a.b"})
    assert garbage.json()["error"] == "invalid_grant"


def test_check_calls_take_no_fault_and_do_not_count(
    emu: EmulatorProcess, client: httpx.Client
) -> None:
    emu.inject("meta", "503")
    check = call(client, CHECKS["meta"], "good-token")
    assert check.status_code == 200 and check.json() == {"id": PIXEL}
    assert emu.stats()["meta"]["requests"] == 0
    assert call(client, DATA["meta"], "good-token").status_code == 503  # the fault waited
    invalid = call(client, CHECKS["meta"], "invalid-token")
    assert invalid.status_code == 401 and invalid.json()["error"]["code"] == 190
    limits = call(client, CHECKS["salesforce"], "good-token")
    assert limits.json()["DailyApiRequests"]["Max"] == 100_000
    assert limits.headers["sforce-limit-info"].startswith("api-usage=")
    no_developer_token = client.get("/google_ads/v26/customers:listAccessibleCustomers",
                                    headers={"Authorization": "Bearer t"})  # fmt: skip
    assert no_developer_token.status_code == 401


def test_the_auth_admin_route_validates_what_it_is_sent(client: httpx.Client) -> None:
    assert client.post("/_emulator/auth", json={"destination": "x"}).status_code == 404
    bad = client.post("/_emulator/auth", json={"destination": "meta", "token_lifetime": 0})
    assert bad.status_code == 400 and "token_lifetime" in bad.json()["error"]
    flag = client.post("/_emulator/auth", json={"destination": "meta", "revoked": "yes"})
    assert flag.status_code == 400
    assert set(client.get("/_emulator/auth").json()) == set(CHECKS)
    assert client.delete("/_emulator/auth").status_code == 405


@pytest.mark.parametrize("destination", sorted(CHECKS))
def test_the_receiver_answers_each_platforms_check_as_documented(destination: str) -> None:
    with Receiver() as receiver, httpx.Client(base_url=receiver.base_url) as http:
        receiver.always(503, b"down", "text/plain")  # checks take no fault
        method, path, style = CHECKS[destination]
        route = (method, path.replace("v26.0", "v25.0"), style)
        extra = {"developer-token": "dev"} if destination == "google_ads" else {}
        answer = call(http, route, "tok-live-1", **extra)
        assert answer.status_code == (404 if destination == "google_ads" else 200), answer.text
        missing = http.request(method, path)
        assert missing.status_code in (200, 400, 401), missing.text
        if destination == "tiktok":
            assert missing.json()["code"] == 40104  # TikTok: HTTP 200 with an error code
        [first, second] = receiver.requests(destination)
        assert first.seq == 0 and first.status == answer.status_code and second.written == 0
