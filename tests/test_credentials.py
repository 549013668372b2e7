"""Credentials that renew themselves, on ``httpx.MockTransport``: the OAuth refresh
grant, Salesforce's JWT bearer assertion, a Google service account through google-auth,
the renewal on an expired answer, a renewal refused mid-push, and the masking of fetched
tokens (no server, no network; the check's classes are in test_credentials_check)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from trackstack_lab.emulator.keys import write_private_key, write_service_account
from trackstack_wh.config import WorkspaceConfig, parse_config
from trackstack_wh.delivery.auth import CREDENTIAL
from trackstack_wh.delivery.credentials import Credentials, check_credentials
from trackstack_wh.delivery.masking import Masker

Handler = Callable[[httpx.Request], httpx.Response]
TOKEN_URL = "https://auth.mock.invalid/token"
SECRETS = {
    "TRACKSTACK_LINKEDIN_CLIENT_ID": "li-client-id",
    "TRACKSTACK_LINKEDIN_CLIENT_SECRET": "li-client-S3cret",
    "TRACKSTACK_LINKEDIN_REFRESH_TOKEN": "li-refresh-R3fresh-token",
    "TRACKSTACK_REDDIT_CLIENT_ID": "rd-client-id",
    "TRACKSTACK_REDDIT_CLIENT_SECRET": "rd-client-S3cret",
    "TRACKSTACK_REDDIT_REFRESH_TOKEN": "rd-refresh-R3fresh-token",
    "T_STATIC": "static-Acc3ss-token-value",
    "T_DEV": "developer-token-value",
}


def workspace(text: str, secrets: dict[str, str] | None = None) -> WorkspaceConfig:
    config = parse_config(tomllib.loads(text))
    return config.with_secrets({**SECRETS, **(secrets or {})})


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


class Platform:
    """A token endpoint issuing ``tok-1``, ``tok-2``... and an API answering ``api``."""

    def __init__(self, api: Handler, token: Handler | None = None) -> None:
        self.api, self.token = api, token
        self.token_requests: list[httpx.Request] = []
        self.api_requests: list[httpx.Request] = []
        self.credentials: list[str | None] = []
        """The Authorization header of each API request as it arrived (a resent request
        is the same object, its headers changed)."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if str(request.url).startswith(TOKEN_URL) or request.url.path.endswith("/token"):
            self.token_requests.append(request)
            if self.token is not None:
                return self.token(request)
            doc = {"access_token": f"tok-{len(self.token_requests)}-Acc3ssT0ken",
                   "expires_in": 3600, "token_type": "Bearer"}  # fmt: skip
            return httpx.Response(200, json=doc)
        self.api_requests.append(request)
        self.credentials.append(request.headers.get("authorization"))
        return self.api(request)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"elements": []})


def json_answer(status: int, doc: Any, headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, json=doc, headers=headers)


LINKEDIN = f"""
[destinations.linkedin]
enabled = true
auth = "oauth_refresh"
token_url = "{TOKEN_URL}"
"""


def test_the_refresh_grant_renews_before_expiry_masks_and_logs_without_the_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    dest = workspace(LINKEDIN).destinations["linkedin"]
    platform, mask = Platform(ok), Masker(())

    async def run() -> tuple[str, str, str]:
        creds = Credentials(dest, mask, platform.transport)
        first = await creds.source.token()
        again = await creds.source.token()  # still fresh: no new fetch
        assert creds.source.current is not None
        creds.source.current.expires_at = time.monotonic() + 10  # inside the renewal margin
        renewed = await creds.source.token()
        await creds.aclose()
        return first, again, renewed

    with caplog.at_level(logging.INFO, logger="trackstack_wh.delivery.tokens"):
        first, again, renewed = asyncio.run(run())
    assert (first, again, renewed) == ("tok-1-Acc3ssT0ken",) * 2 + ("tok-2-Acc3ssT0ken",)
    sent = form(platform.token_requests[0])
    assert sent == {"grant_type": "refresh_token", "refresh_token": "li-refresh-R3fresh-token",
                    "client_id": "li-client-id", "client_secret": "li-client-S3cret"}  # fmt: skip
    assert caplog.messages == ["renewed access token for linkedin (expires in 3600 s)"] * 2
    assert mask(f"echo {first} and {renewed}") == "echo *** and ***"


def test_reddit_sends_the_app_credentials_as_basic_auth() -> None:
    text = f'[destinations.reddit]\nenabled = true\npixel_id = "t2_x"\nauth = "oauth_refresh"\n' \
           f'token_url = "{TOKEN_URL}"\n'  # fmt: skip
    platform = Platform(lambda r: httpx.Response(200, json={"data": {"id": "t2_me"}}))
    [check] = check_credentials(workspace(text), platform.transport)
    assert check.ok, check
    request = platform.token_requests[0]
    expected = base64.b64encode(b"rd-client-id:rd-client-S3cret").decode()
    assert request.headers["authorization"] == f"Basic {expected}"
    assert "client_secret" not in form(request)
    assert platform.api_requests[0].headers["authorization"] == "Bearer tok-1-Acc3ssT0ken"


EXPIRED_LINKEDIN = {"status": 401, "serviceErrorCode": 65602, "code": "EXPIRED_ACCESS_TOKEN",
                    "message": "The token used in the request has expired"}  # fmt: skip


def test_an_expired_answer_renews_once_and_the_request_goes_out_again() -> None:
    def api(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer tok-1-Acc3ssT0ken":
            return httpx.Response(401, json=EXPIRED_LINKEDIN)
        return httpx.Response(201)

    platform = Platform(api)
    dest = workspace(LINKEDIN).destinations["linkedin"]

    async def run() -> int:
        creds = Credentials(dest, Masker(()), platform.transport)
        async with httpx.AsyncClient(transport=platform.transport, auth=creds.auth) as client:
            response = await client.post("https://api.linkedin.com/rest/conversionEvents")
        await creds.aclose()
        return response.status_code

    assert asyncio.run(run()) == 201
    assert len(platform.token_requests) == 2
    assert platform.credentials == ["Bearer tok-1-Acc3ssT0ken", "Bearer tok-2-Acc3ssT0ken"]


def test_a_static_token_is_never_renewed_and_goes_where_the_platform_reads_it() -> None:
    text = (
        '[destinations.tiktok]\nenabled = true\npixel_code = "C4X"\naccess_token_env = "T_STATIC"'
    )
    platform = Platform(lambda r: httpx.Response(401, json=EXPIRED_LINKEDIN))
    dest = workspace(text).destinations["tiktok"]

    async def run() -> int:
        creds = Credentials(dest, Masker(()), platform.transport)
        async with httpx.AsyncClient(transport=platform.transport, auth=creds.auth) as client:
            response = await client.get("https://x.invalid/", extensions={CREDENTIAL: "tiktok"})
        await creds.aclose()
        return response.status_code

    assert asyncio.run(run()) == 401
    assert platform.token_requests == [] and len(platform.api_requests) == 1
    assert platform.api_requests[0].headers["access-token"] == "static-Acc3ss-token-value"


def test_the_jwt_bearer_assertion_is_rs256_for_the_user_at_the_login_url(tmp_path: Path) -> None:
    key_file = write_private_key(tmp_path / "sf")
    public = RSAKey.import_key(key_file.read_bytes()).as_pem(private=False)
    seen: dict[str, Any] = {}

    def token(request: httpx.Request) -> httpx.Response:
        sent = form(request)
        decoded = jwt.decode(sent["assertion"], RSAKey.import_key(public))
        seen.update(grant=sent["grant_type"], header=decoded.header, claims=decoded.claims)
        doc = {"access_token": "00D!sf-Acc3ss", "token_type": "Bearer",
               "instance_url": "https://acme.my.salesforce.com"}  # fmt: skip
        return httpx.Response(200, json=doc)

    text = """
[destinations.salesforce]
enabled = true
instance_url = "https://acme.my.salesforce.com"
auth = "jwt_bearer"
username = "integration@acme.example"
login_url = "https://test.salesforce.com"
token_url = "https://auth.mock.invalid/token"
"""
    limits = {"DailyApiRequests": {"Max": 100000, "Remaining": 99000}}
    platform = Platform(json_answer(200, limits), token=token)
    config = workspace(text, {"TRACKSTACK_SALESFORCE_CLIENT_ID": "3MVG9-consumer-key",
                              "TRACKSTACK_SALESFORCE_PRIVATE_KEY_FILE": str(key_file)})  # fmt: skip
    [check] = check_credentials(config, platform.transport)
    assert check.ok, check
    assert seen["grant"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert seen["header"]["alg"] == "RS256"
    claims = seen["claims"]
    assert (claims["iss"], claims["sub"], claims["aud"]) == (
        "3MVG9-consumer-key", "integration@acme.example", "https://test.salesforce.com"
    )  # fmt: skip
    assert 0 < claims["exp"] - time.time() <= 180
    assert platform.api_requests[0].url.path == "/services/data/v66.0/limits"
    assert platform.api_requests[0].headers["authorization"] == "Bearer 00D!sf-Acc3ss"


def test_a_service_account_gets_its_token_through_google_auth(tmp_path: Path) -> None:
    key_file = write_service_account(tmp_path / "sa", token_uri="https://oauth2.mock.invalid/token")
    seen: list[dict[str, Any]] = []

    def token(request: httpx.Request) -> httpx.Response:
        sent = form(request)
        claims = orjson.loads(base64.urlsafe_b64decode(sent["assertion"].split(".")[1] + "=="))
        seen.append({"url": str(request.url), "grant": sent["grant_type"], **claims})
        return httpx.Response(200, json={"access_token": "ya29.sa-Acc3ss", "expires_in": 3599})

    text = '[destinations.google_ads]\nenabled = true\ncustomer_id = "123-456-7890"\n' \
           'auth = "service_account"\n'  # fmt: skip
    platform = Platform(json_answer(404, {"error": {"code": 404}}), token=token)
    config = workspace(text, {"TRACKSTACK_GOOGLE_SERVICE_ACCOUNT_FILE": str(key_file)})
    [check] = check_credentials(config, platform.transport)
    assert check.ok, check
    [grant] = seen
    assert grant["url"] == "https://oauth2.mock.invalid/token"  # the key file's token_uri
    assert grant["grant"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert "https://www.googleapis.com/auth/datamanager" in grant["scope"].split()
    assert grant["iss"] == "trackstack@trackstack-emulator.iam.gserviceaccount.com"
    request = platform.api_requests[0]
    assert request.url.path == "/v1/requestStatus:retrieve"
    assert request.headers["authorization"] == "Bearer ya29.sa-Acc3ss"


def test_an_unreadable_key_file_is_missing_and_a_bad_one_invalid(tmp_path: Path) -> None:
    text = '[destinations.google_ads]\nenabled = true\ncustomer_id = "123-456-7890"\n' \
           'auth = "service_account"\n'  # fmt: skip
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "service_account"}')
    results = {}
    for name, path in (("missing", tmp_path / "nowhere.json"), ("invalid", bad)):
        config = workspace(text, {"TRACKSTACK_GOOGLE_SERVICE_ACCOUNT_FILE": str(path)})
        [check] = check_credentials(config, Platform(ok).transport)
        results[name] = check.status
        assert str(path) not in check.message  # the variable is named, not its value
    assert results == {"missing": "missing", "invalid": "invalid"}


def test_the_masker_takes_tokens_fetched_during_the_run() -> None:
    mask = Masker(["static-secret-1"])
    mask.add("fetched-Acc3ss-token")
    mask.add("short")  # too short to be a credential: left alone
    text = (
        "static-secret-1 fetched-Acc3ss-token "
        + base64.b64encode(b"user:fetched-Acc3ss-token").decode()
    )
    assert mask(text + " short") == "*** *** *** short"


LINKEDIN_WAREHOUSE = f"""
[workspace]
value_unit = "minor"

[destinations.linkedin]
enabled = true
auth = "oauth_refresh"
token_url = "{TOKEN_URL}"
base_url = "https://li.mock.invalid"

[destinations.linkedin.conversion_rules]
Purchase = "18000005"
"""


def test_a_renewal_refused_mid_push_halts_the_destination_with_every_row_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    import trackstack_wh as tw
    from tests.helpers import WEB, event_line, write_lines

    as_of = dt.datetime(2026, 10, 28, 12, tzinfo=dt.UTC)
    (tmp_path / "trackstack.toml").write_text(LINKEDIN_WAREHOUSE)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    events = [event_line("Purchase", f"evt_{i}", as_of - dt.timedelta(hours=i + 1),
                         email=f"p{i}@acme.example", value=1000, currency="USD",
                         transactionId=f"txn_{i}", **WEB) for i in range(5)]  # fmt: skip

    def token(request: httpx.Request) -> httpx.Response:
        if len(platform.token_requests) == 1:
            return httpx.Response(200, json={"access_token": "tok-1-Acc3ssT0ken",
                                             "expires_in": 3600})  # fmt: skip
        return httpx.Response(400, json={"error": "invalid_grant"})

    def api(request: httpx.Request) -> httpx.Response:
        return (
            ok(request) if request.method == "GET" else httpx.Response(401, json=EXPIRED_LINKEDIN)
        )

    platform = Platform(api, token=token)
    with tw.connect(tmp_path / "wh.duckdb", config=tmp_path / "trackstack.toml") as wh:
        wh.ingest(write_lines(tmp_path / "events.ndjson", events))
        wh.build_payloads(as_of=as_of)
        report = wh.push(as_of=as_of, transport=platform.transport)["linkedin"]
        assert report.halted is not None, report
        assert report.halted.startswith("auth: token renewal revoked: token endpoint refused")
        assert "TRACKSTACK_LINKEDIN_REFRESH_TOKEN" in report.halted
        assert report.pending == report.not_sent == 5 and report.failed == 0
        assert wh.deliveries("linkedin").height == 0  # nothing logged: all still pending
    assert [r.method for r in platform.api_requests] == ["GET", "POST"]
    assert len(platform.token_requests) == 2
