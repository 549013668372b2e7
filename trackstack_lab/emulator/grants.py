"""The platforms' token endpoints: the OAuth refresh-token grant (RFC 6749 section 6),
Salesforce's JWT bearer grant and Google's service-account JWT grant (RFC 7523), as
google-auth and authlib send them.

Client credentials come in the form body or as HTTP Basic auth (Reddit requires Basic).
A JWT assertion must be RS256 and carry the platform's claims (Salesforce: ``iss``,
``sub``, ``aud`` a Salesforce login URL, ``exp`` not passed; Google: ``iss``, ``aud``,
``scope`` naming the Data Manager or Google Ads scope). Its signature is not verified:
the emulator has no registered certificate. Answers are each platform's success body
(Salesforce states no ``expires_in``) or an RFC 6749 error.
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any
from urllib.parse import unquote

import orjson

from trackstack_lab.emulator.checks import load_form, new_uuid
from trackstack_lab.emulator.wire import Call, Reply, refused

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SALESFORCE_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
GOOGLE_SCOPES = frozenset(
    {"https://www.googleapis.com/auth/datamanager", "https://www.googleapis.com/auth/adwords"}
)
REVOKED_GRANT = {
    "google_ads": ("invalid_grant", "Token has been expired or revoked."),
    "linkedin": (
        "invalid_request",
        "The provided authorization grant or refresh token is invalid, expired or revoked.",
    ),
    "snapchat": ("invalid_grant", "Invalid refresh token: revoked"),
    "reddit": ("invalid_grant", "refresh token revoked"),
    "hubspot": ("BAD_REFRESH_TOKEN", "missing or unknown refresh token"),
    "salesforce": ("invalid_grant", "expired access/refresh token"),
}
"""How each platform refuses a revoked (or expired) refresh token."""
SCOPES = {
    "google_ads": "https://www.googleapis.com/auth/datamanager",
    "linkedin": "r_ads,rw_conversions",
    "snapchat": "snapchat-offline-conversions-api snapchat-marketing-api",
    "reddit": "adsconversions adsread",
    "salesforce": "api refresh_token",
}


def oauth_error(status: int, error: str, description: str) -> Reply:
    """An RFC 6749 error (HubSpot's own shape for its refresh errors)."""
    if error == "BAD_REFRESH_TOKEN":
        body = {"status": error, "message": description, "correlationId": new_uuid()}
        return refused(status, body)
    return refused(status, {"error": error, "error_description": description})


def _basic(call: Call) -> tuple[str, str] | None:
    scheme, _, value = call.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(value.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return unquote(user), unquote(password)


def _issued(call: Call, extra: dict[str, Any] | None = None) -> Reply:
    """The platform's success body for a new access token."""
    token, lifetime = call.state.tokens.issue(call.destination)
    if call.destination == "salesforce":
        body: dict[str, Any] = {
            "access_token": token, "instance_url": "https://emulator.my.salesforce.com",
            "id": "https://login.salesforce.com/id/00D000000000001/005000000000001",
            "token_type": "Bearer", "issued_at": str(int(time.time() * 1000)),
            "signature": new_uuid(), "scope": SCOPES["salesforce"],
        }  # fmt: skip
        return Reply(200, body)
    body = {"access_token": token, "token_type": "Bearer", "expires_in": max(1, int(lifetime))}
    if call.destination in SCOPES:
        body["scope"] = SCOPES[call.destination]
    return Reply(200, {**body, **(extra or {})})


def _refresh(call: Call, form: dict[str, str]) -> Reply:
    basic = _basic(call)
    client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
    if call.destination == "reddit" and basic is None:
        return oauth_error(401, "invalid_client", "client credentials must be sent as Basic auth")
    if not client_id or not secret or secret.startswith("invalid"):
        return oauth_error(401, "invalid_client", "Client authentication failed")
    refresh = form.get("refresh_token", "")
    if not refresh:
        return oauth_error(400, "invalid_request", "refresh_token is required")
    book = call.state.tokens
    if book.revoked or refresh.startswith(("revoked", "invalid", "expired")):
        book.grants_refused += 1
        return oauth_error(400, *REVOKED_GRANT[call.destination])
    extra = {"refresh_token": refresh}
    if call.destination == "linkedin":
        extra["refresh_token_expires_in"] = 31_536_000
    return _issued(call, extra if call.destination != "reddit" else None)


def _segment(text: str) -> Any:
    return orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _claims_problem(destination: str, claims: dict[str, Any], now: float) -> str | None:
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] <= now:
        return "assertion expired"
    if not claims.get("iss"):
        return "iss (the client) is required"
    if destination == "salesforce":
        if claims.get("aud") not in SALESFORCE_AUDIENCES:
            return "audience is invalid"
        return None if claims.get("sub") else "sub (the username) is required"
    if not claims.get("aud"):
        return "aud is required"
    return None


def _jwt(call: Call, form: dict[str, str]) -> Reply:
    if call.destination not in ("salesforce", "google_ads"):
        return oauth_error(400, "unsupported_grant_type", "grant type not supported")
    try:
        header_text, claims_text, signature = form.get("assertion", "").split(".")
        header, claims = _segment(header_text), _segment(claims_text)
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return oauth_error(400, "invalid_grant", "invalid assertion")
    if not isinstance(header, dict) or header.get("alg") != "RS256" or not signature:
        return oauth_error(400, "invalid_grant", "invalid assertion: RS256 signature expected")
    if not isinstance(claims, dict):
        return oauth_error(400, "invalid_grant", "invalid assertion")
    problem = _claims_problem(call.destination, claims, time.time())
    if problem is not None:
        return oauth_error(400, "invalid_grant", problem)
    book = call.state.tokens
    if book.revoked:
        book.grants_refused += 1
        if call.destination == "salesforce":
            return oauth_error(400, "invalid_grant", "user hasn't approved this consumer")
        return oauth_error(400, "invalid_grant", "Invalid JWT Signature: the key was revoked.")
    scopes = set(str(claims.get("scope", "")).split())
    if call.destination == "google_ads" and not GOOGLE_SCOPES & scopes:
        return oauth_error(400, "invalid_scope", "Invalid OAuth scope or ID token audience")
    return _issued(call)


def handle_grant(call: Call) -> Reply:
    """``POST`` to a platform's token endpoint."""
    form = load_form(call.body)
    grant = form.get("grant_type")
    if grant == "refresh_token":
        return _refresh(call, form)
    if grant == JWT_BEARER:
        return _jwt(call, form)
    return oauth_error(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported")
