"""Access tokens that renew themselves, held in memory only.

A ``TokenSource`` hands out the destination's current access token: the static one from
its variable, or one fetched from the platform's token endpoint (OAuth refresh-token
grant, Salesforce JWT bearer grant, Google service account), renewed before it expires
(``RENEW_SHARE`` of its life, at most ``RENEW_MARGIN`` seconds, ahead) and at once when a
platform answers that it expired. Every fetched token joins the run's ``Masker`` before
it is used, so no stored or printed text can hold it; logs name the destination and the
lifetime only. Token requests go through the run's transport (tests and the emulator
answer them); authlib builds the grant requests, client authentication and JWT
assertions, google-auth does the service-account flow.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
from authlib.oauth2.auth import ClientAuth  # type: ignore[import-untyped]
from authlib.oauth2.rfc6749.parameters import (  # type: ignore[import-untyped]
    prepare_token_request,
)
from authlib.oauth2.rfc7523 import JWTBearerGrant  # type: ignore[import-untyped]
from joserfc.jwk import RSAKey

from trackstack_wh.config import LIVE, Destination
from trackstack_wh.config.destinations import (
    JWT_BEARER,
    OAUTH_REFRESH,
    SALESFORCE_LOGIN,
    SERVICE_ACCOUNT,
)
from trackstack_wh.delivery.denials import INVALID, grant_denial, load
from trackstack_wh.delivery.masking import Masker
from trackstack_wh.delivery.platform_auth import (
    PLATFORMS,
    SERVICE_ACCOUNT_SCOPES,
    token_endpoint,
)

log = logging.getLogger(__name__)

RENEW_SHARE = 0.2
RENEW_MARGIN = 300.0
JWT_LIFETIME = 180
"""Seconds a JWT bearer assertion is valid (Salesforce accepts at most 3 minutes)."""
FORM = "application/x-www-form-urlencoded"
UNREACHABLE = "unreachable"
MISSING = "missing"


class CredentialError(Exception):
    """No access token: ``status`` is a ``CredentialCheck`` status (``missing``,
    ``revoked``, ``insufficient_scope``, ``unreachable``, ``invalid``); ``message``
    holds no secret."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class AccessToken:
    value: str
    expires_at: float
    """``time.monotonic()`` seconds."""
    lifetime: float

    def fresh(self) -> bool:
        margin = min(RENEW_MARGIN, self.lifetime * RENEW_SHARE)
        return time.monotonic() < self.expires_at - margin


class TokenSource:
    """The current access token of one destination; ``renewable`` ones fetch it."""

    renewable = False

    def __init__(self, dest: Destination, client: httpx.AsyncClient, mask: Masker) -> None:
        self.dest, self.client, self.mask = dest, client, mask
        self.current: AccessToken | None = None
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """A token that is not about to expire (fetched or renewed first if needed)."""
        async with self._lock:
            if self.current is None or not self.current.fresh():
                await self._renew()
            assert self.current is not None
            return self.current.value

    async def renew(self, stale: str) -> str:
        """A new token after a platform refused ``stale`` as expired (one fetch even when
        several requests were refused at once)."""
        async with self._lock:
            if self.current is None or self.current.value == stale:
                await self._renew()
            assert self.current is not None
            return self.current.value

    async def _renew(self) -> None:
        value, lifetime = await self._fetch()
        self.mask.add(value)
        self.current = AccessToken(value, time.monotonic() + lifetime, lifetime)
        if self.renewable:
            log.info("renewed access token for %s (expires in %d s)", self.dest.name, lifetime)

    async def _fetch(self) -> tuple[str, float]:
        value = self.dest.secret("access_token_env")
        if not value:
            raise CredentialError(MISSING, "no access token is set")
        return value, float("inf")

    def secret(self, key: str) -> str:
        """The credential ``key`` names (CredentialError ``missing`` when unset)."""
        value = self.dest.secret(key)
        if not value:
            name = self.dest.credential_envs().get(key, key)
            raise CredentialError(MISSING, f"environment variable {name} not set")
        return value

    async def post_form(self, url: str, headers: dict[str, str], body: str) -> dict[str, Any]:
        """POST a token request; its JSON answer, or CredentialError."""
        try:
            response = await self.client.post(url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            raise CredentialError(
                UNREACHABLE, f"token endpoint did not answer ({type(exc).__name__})"
            ) from None
        if response.status_code == 429 or response.status_code >= 500:
            raise CredentialError(
                UNREACHABLE, f"token endpoint answered HTTP {response.status_code}"
            )
        doc = load(response.content)
        if response.status_code != 200 or not isinstance(doc, dict) or not doc.get("access_token"):
            status, said = grant_denial(response.status_code, response.content)
            raise CredentialError(status, self.mask(f"token endpoint refused: {said}")[:300])
        return doc

    def lifetime(self, doc: dict[str, Any]) -> float:
        """The token's stated lifetime, else the platform's assumed one."""
        stated = doc.get("expires_in")
        try:
            return max(1.0, float(str(stated)))
        except ValueError:
            return PLATFORMS[self.dest.name].assumed_lifetime


class OAuthRefreshToken(TokenSource):
    """The OAuth 2.0 refresh-token grant (RFC 6749 section 6); a rotated refresh token
    replaces the old one for the rest of the run."""

    renewable = True

    def __init__(self, dest: Destination, client: httpx.AsyncClient, mask: Masker) -> None:
        super().__init__(dest, client, mask)
        self.refresh_token: str | None = None

    async def _fetch(self) -> tuple[str, float]:
        client_id = self.secret("client_id_env")
        client_secret = self.secret("client_secret_env")
        refresh = self.refresh_token or self.secret("refresh_token_env")
        url = token_endpoint(self.dest)
        body = prepare_token_request("refresh_token", refresh_token=refresh)
        auth = ClientAuth(client_id, client_secret, PLATFORMS[self.dest.name].client_auth)
        url, headers, body = auth.prepare("POST", url, {"Content-Type": FORM}, body)
        doc = await self.post_form(url, dict(headers), body)
        rotated = doc.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != refresh:
            self.mask.add(rotated)
            self.refresh_token = rotated
        return str(doc["access_token"]), self.lifetime(doc)


class JwtBearerToken(TokenSource):
    """Salesforce's OAuth 2.0 JWT bearer flow: an RS256 assertion signed with the
    connected app's private key, for the configured user."""

    renewable = True

    async def _fetch(self) -> tuple[str, float]:
        client_id = self.secret("client_id_env")
        key = _read_file(self.dest, "private_key_env", self.secret("private_key_env"))
        audience = (self.dest.login_url or SALESFORCE_LOGIN).rstrip("/")
        try:
            assertion = JWTBearerGrant.sign(
                RSAKey.import_key(key), client_id, audience, self.dest.username,
                expires_in=JWT_LIFETIME, alg="RS256",
            )  # fmt: skip
        except Exception as exc:  # joserfc raises its own errors for a key it cannot use
            name = self.dest.credential_envs()["private_key_env"]
            raise CredentialError(
                INVALID,
                f"the file named by {name} is not an RSA private key ({type(exc).__name__})",
            ) from None
        text = assertion.decode() if isinstance(assertion, bytes) else str(assertion)
        self.mask.add(text)
        body = prepare_token_request("urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=text)
        doc = await self.post_form(token_endpoint(self.dest), {"Content-Type": FORM}, body)
        return str(doc["access_token"]), self.lifetime(doc)


class ServiceAccountToken(TokenSource):
    """A Google service account's token through google-auth (its JWT grant to the key
    file's ``token_uri``; to the emulator or ``token_url`` when either is configured)."""

    renewable = True

    async def _fetch(self) -> tuple[str, float]:
        from google.auth import exceptions
        from google.oauth2 import service_account

        from trackstack_wh.delivery.google_transport import LoopRequest

        name = self.dest.credential_envs()["service_account_env"]
        raw = _read_file(self.dest, "service_account_env", self.secret("service_account_env"))
        try:
            info = orjson.loads(raw)
            if self.dest.token_url or self.dest.target != LIVE:
                info["token_uri"] = token_endpoint(self.dest)
            credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
                info, scopes=SERVICE_ACCOUNT_SCOPES
            )
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
            raise CredentialError(
                INVALID,
                f"the file named by {name} is not a service-account key ({type(exc).__name__})",
            ) from None
        request = LoopRequest(self.client, asyncio.get_running_loop())
        try:
            await asyncio.to_thread(credentials.refresh, request)
        except exceptions.TransportError:
            raise CredentialError(UNREACHABLE, "token endpoint did not answer") from None
        except exceptions.RefreshError as exc:
            raise _refused(exc, self.mask) from None
        expiry = credentials.expiry
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        lifetime = (expiry - now).total_seconds() if expiry else 3600.0
        return str(credentials.token), max(1.0, lifetime)


def _refused(exc: Exception, mask: Masker) -> CredentialError:
    """google-auth's RefreshError as a CredentialError (its second argument is the token
    endpoint's JSON answer, when it had one)."""
    doc = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], dict) else {}
    status, said = grant_denial(400, orjson.dumps(doc)) if doc else (INVALID, str(exc.args[0]))
    return CredentialError(status, mask(f"token endpoint refused: {said}")[:300])


def _read_file(dest: Destination, key: str, path: str) -> bytes:
    name = dest.credential_envs()[key]
    try:
        return Path(path).expanduser().read_bytes()
    except OSError:
        raise CredentialError(MISSING, f"the file named by {name} cannot be read") from None


SOURCES: dict[str, type[TokenSource]] = {
    OAUTH_REFRESH: OAuthRefreshToken,
    JWT_BEARER: JwtBearerToken,
    SERVICE_ACCOUNT: ServiceAccountToken,
}


def token_source(dest: Destination, client: httpx.AsyncClient, mask: Masker) -> TokenSource:
    """The token source of the destination's ``auth`` mode."""
    return SOURCES.get(dest.auth, TokenSource)(dest, client, mask)
