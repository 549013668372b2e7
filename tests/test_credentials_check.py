"""The credential check on ``httpx.MockTransport``: each platform's answer read as
``ok``, ``expired``, ``revoked``, ``insufficient_scope``, ``unreachable`` or ``invalid``,
missing variables, a refused refresh token, and where each check and token request goes
(no server, no network)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.test_credentials import LINKEDIN, TOKEN_URL, Platform, json_answer, ok, workspace
from trackstack_wh.config import Destination
from trackstack_wh.delivery import credentials as credentials_module
from trackstack_wh.delivery.credentials import check_credentials

Handler = Callable[[httpx.Request], httpx.Response]


def refuse(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused")


STATIC = {
    "meta": 'pixel_id = "100000000000001"',
    "google_ads": 'customer_id = "123-456-7890"',
    "linkedin": "",
    "tiktok": 'pixel_code = "C4X"',
    "snapchat": 'pixel_id = "a1b2c3d4-0000-4000-8000-000000000001"',
    "reddit": 'pixel_id = "t2_x"',
    "hubspot": 'portal_id = "4455667"',
    "salesforce": 'instance_url = "https://acme.my.salesforce.com"',
}
CASES = [
    ("meta", json_answer(200, {"id": "100000000000001"}), "ok"),
    ("meta", json_answer(400, {"error": {"message": "Error validating access token: Session "
     "has expired", "type": "OAuthException", "code": 190, "error_subcode": 463}}), "expired"),
    ("meta", json_answer(400, {"error": {"message": "Unsupported get request.", "code": 100}}),
     "invalid"),
    ("google_ads", json_answer(404, {"error": {"code": 404, "status": "NOT_FOUND"}}), "ok"),
    ("google_ads", json_answer(403, {"error": {"code": 403, "status": "PERMISSION_DENIED",
     "message": "Request had insufficient authentication scopes.", "details": [
         {"reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}]}}), "insufficient_scope"),
    ("linkedin", json_answer(401, {"status": 401, "serviceErrorCode": 65601,
     "code": "REVOKED_ACCESS_TOKEN", "message": "revoked by the user"}), "revoked"),
    ("tiktok", json_answer(200, {"code": 40102, "message": "Access token has expired."}),
     "expired"),
    ("tiktok", json_answer(200, {"code": 0, "message": "OK", "data": {}}), "ok"),
    ("snapchat", json_answer(401, {"status": "INVALID"}, {"WWW-Authenticate":
     'Bearer error="invalid_token", error_description="access token expired"'}), "expired"),
    ("reddit", json_answer(503, {"message": "unavailable"}), "unreachable"),
    ("reddit", refuse, "unreachable"),
    ("hubspot", json_answer(403, {"status": "error", "message": "missing scopes",
     "category": "MISSING_SCOPES"}), "insufficient_scope"),
    ("salesforce", json_answer(401, [{"message": "Session expired or invalid",
     "errorCode": "INVALID_SESSION_ID"}]), "expired"),
]  # fmt: skip


@pytest.mark.parametrize(("destination", "answer", "status"), CASES)
def test_the_check_reads_each_platforms_answer(
    monkeypatch: pytest.MonkeyPatch, destination: str, answer: Handler, status: str
) -> None:
    monkeypatch.setattr(credentials_module, "TRIES", 1)
    text = f'[destinations.{destination}]\nenabled = true\naccess_token_env = "T_STATIC"\n' \
           f"{STATIC[destination]}\n"  # fmt: skip
    platform = Platform(answer)
    [check] = check_credentials(workspace(text), platform.transport)
    assert check.status == status, check
    assert len(platform.api_requests) == 1 and platform.api_requests[0].method == "GET"
    assert check.ok == (status == "ok") and bool(check.fix) != check.ok
    assert "static-Acc3ss-token-value" not in str(check.to_dict())


def test_missing_variables_are_named_and_nothing_is_sent() -> None:
    text = '[destinations.tiktok]\nenabled = true\npixel_code = "C4X"\naccess_token_env = "T_UNSET"'
    platform = Platform(ok)
    [check] = check_credentials(workspace(text), platform.transport)
    assert (check.status, check.missing) == ("missing", ("T_UNSET",))
    assert "T_UNSET" in check.message and "T_UNSET" in check.fix
    assert platform.api_requests == []


def test_a_revoked_refresh_token_is_revoked_with_a_fix_naming_its_variable() -> None:
    answer = json_answer(400, {"error": "invalid_grant", "error_description": "Token has been "
                               "expired or revoked."})  # fmt: skip
    platform = Platform(ok, token=answer)
    [check] = check_credentials(workspace(LINKEDIN), platform.transport)
    assert check.status == "revoked" and "invalid_grant" in check.message, check
    assert "TRACKSTACK_LINKEDIN_REFRESH_TOKEN" in check.fix
    assert platform.api_requests == []


def test_destinations_name_their_check_call() -> None:
    from trackstack_wh.delivery.platform_auth import check_url, token_endpoint

    linkedin = Destination("linkedin").typed()
    assert check_url(linkedin) == "https://api.linkedin.com/rest/adAccountUsers?q=authenticatedUser"
    assert token_endpoint(linkedin) == "https://www.linkedin.com/oauth/v2/accessToken"
    pointed = workspace(LINKEDIN.replace(f'token_url = "{TOKEN_URL}"', "")).pointed_at(
        "http://127.0.0.1:9", target="emulator"
    )
    assert token_endpoint(pointed.destinations["linkedin"]) == (
        "http://127.0.0.1:9/linkedin/oauth/v2/accessToken"
    )
    google = workspace('[destinations.google_ads]\napi = "upload_click_conversions"')
    assert check_url(google.destinations["google_ads"]).endswith(
        "/v26/customers:listAccessibleCustomers"
    )
