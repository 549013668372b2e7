"""Reading a platform's refusal of a credential: expired, revoked, missing a scope or
otherwise invalid, from each platform's documented error body.

- Meta: ``error.code`` 190 (OAuthException) with ``error_subcode`` 463 (expired), 458
  (app removed by the user) or 460 (password changed: the session was invalidated);
  codes 10 and 200-299 are missing permissions.
- Google: 401 ``UNAUTHENTICATED`` (an ``ErrorInfo`` reason ``ACCESS_TOKEN_EXPIRED`` when
  it expired); 403 ``PERMISSION_DENIED`` with ``ACCESS_TOKEN_SCOPE_INSUFFICIENT`` (or
  "insufficient authentication scopes") for a missing scope.
- LinkedIn: ``serviceErrorCode`` 65601 / ``REVOKED_ACCESS_TOKEN``, 65602 /
  ``EXPIRED_ACCESS_TOKEN`` ("The token used in the request has expired"), 65600 /
  ``INVALID_ACCESS_TOKEN``; 403 ``ACCESS_DENIED`` for missing permissions.
- TikTok (inside HTTP 200): ``code`` 40102 expired, 40105 "incorrect or has been
  revoked", 40104 empty, 40001 no permission.
- HubSpot: ``category`` ``EXPIRED_AUTHENTICATION``, ``INVALID_AUTHENTICATION``,
  ``MISSING_SCOPES`` (403).
- Salesforce: 401 ``INVALID_SESSION_ID`` ("Session expired or invalid"); a 403
  ``INVALID_SESSION_ID`` ("not valid for use with the REST API") lacks the ``api`` scope.
- Snapchat, Reddit and the rest: 401 (``WWW-Authenticate: Bearer error="invalid_token"``
  with a description saying expired or revoked), 403 ``insufficient_scope``.

Token endpoints answer RFC 6749 errors: ``invalid_grant`` (the refresh token or grant
was revoked or expired), ``invalid_client``, ``invalid_scope``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

EXPIRED = "expired"
REVOKED = "revoked"
INSUFFICIENT_SCOPE = "insufficient_scope"
INVALID = "invalid"

META_REVOKED = frozenset({458, 460})
META_EXPIRED = frozenset({463})


def load(content: bytes) -> Any:
    """The JSON of an answer body, or None."""
    try:
        return orjson.loads(content) if content else None
    except orjson.JSONDecodeError:
        return None


def _text(body: Any) -> str:
    """Every string in a JSON document, lower case, for keyword matching."""
    if isinstance(body, str):
        return body.lower()
    if isinstance(body, dict):
        return " ".join(_text(v) for v in body.values())
    if isinstance(body, list):
        return " ".join(_text(v) for v in body)
    return str(body).lower() if isinstance(body, int) else ""


def _by_words(text: str, fallback: str) -> str:
    if "revok" in text:
        return REVOKED
    if "expire" in text:
        return EXPIRED
    if "scope" in text:
        return INSUFFICIENT_SCOPE
    return fallback


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _meta(status: int, body: Any, text: str) -> str | None:
    error = _dict(_dict(body).get("error"))
    code, subcode = error.get("code"), error.get("error_subcode")
    if code in (190, 102):
        if subcode in META_EXPIRED:
            return EXPIRED
        if subcode in META_REVOKED:
            return REVOKED
        return _by_words(text, INVALID)
    if code == 10 or (isinstance(code, int) and 200 <= code <= 299):
        return INSUFFICIENT_SCOPE
    return None


def _google(status: int, body: Any, text: str) -> str | None:
    reasons = {
        str(_dict(d).get("reason", ""))
        for d in _dict(_dict(body).get("error")).get("details") or []
        if isinstance(d, dict)
    }
    if "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in reasons or "insufficient authentication scope" in text:
        return INSUFFICIENT_SCOPE
    if status == 401:
        if "ACCESS_TOKEN_EXPIRED" in reasons:
            return EXPIRED
        if "developer token" in text:
            return INVALID
        return _by_words(text, INVALID)
    if status == 403 and "PERMISSION_DENIED" in str(_dict(_dict(body).get("error")).get("status")):
        return INSUFFICIENT_SCOPE
    return None


def _linkedin(status: int, body: Any, text: str) -> str | None:
    doc = _dict(body)
    code, service = str(doc.get("code", "")), doc.get("serviceErrorCode")
    if service == 65601 or code == "REVOKED_ACCESS_TOKEN":
        return REVOKED
    if service == 65602 or code == "EXPIRED_ACCESS_TOKEN":
        return EXPIRED
    if status == 403 and (code == "ACCESS_DENIED" or "permission" in text):
        return INSUFFICIENT_SCOPE
    return _by_words(text, INVALID) if status == 401 else None


def _tiktok(status: int, body: Any, text: str) -> str | None:
    code = _dict(body).get("code")
    if code == 40102:
        return EXPIRED
    if code == 40105:
        return _by_words(text, INVALID)
    if code == 40104:
        return INVALID
    if code == 40001:
        return INSUFFICIENT_SCOPE
    return _by_words(text, INVALID) if status == 401 else None


def _hubspot(status: int, body: Any, text: str) -> str | None:
    category = _dict(body).get("category")
    if category == "EXPIRED_AUTHENTICATION":
        return EXPIRED
    if category == "MISSING_SCOPES":
        return INSUFFICIENT_SCOPE
    if category == "INVALID_AUTHENTICATION" or status == 401:
        return _by_words(text, INVALID)
    return None


def _salesforce(status: int, body: Any, text: str) -> str | None:
    codes = {str(_dict(e).get("errorCode")) for e in body} if isinstance(body, list) else set()
    if status == 401:
        return EXPIRED if "INVALID_SESSION_ID" in codes else _by_words(text, INVALID)
    if status == 403 and ("INVALID_SESSION_ID" in codes or "INSUFFICIENT_ACCESS" in codes):
        return INSUFFICIENT_SCOPE
    return None


def _generic(status: int, body: Any, text: str) -> str | None:
    if status == 401:
        return _by_words(text, INVALID)
    if status == 403 and ("scope" in text or "permission" in text):
        return INSUFFICIENT_SCOPE
    return None


READERS = {
    "meta": _meta,
    "google_ads": _google,
    "linkedin": _linkedin,
    "tiktok": _tiktok,
    "hubspot": _hubspot,
    "salesforce": _salesforce,
}
AUTHENTICATE = re.compile(r'error="([a-z_]+)"(?:[^"]*error_description="([^"]*)")?')


def credential_denial(
    destination: str, status: int, headers: Mapping[str, str], content: bytes
) -> str | None:
    """``expired``, ``revoked``, ``insufficient_scope`` or ``invalid`` when the answer
    refuses the request's credential; None when it does not (header names lower case)."""
    challenge = AUTHENTICATE.search(headers.get("www-authenticate", ""))
    if challenge and challenge.group(1) == "insufficient_scope":
        return INSUFFICIENT_SCOPE
    body = load(content)
    text = _text(body) or content[:2000].decode("utf-8", "replace").lower()
    if challenge and challenge.group(1) == "invalid_token":
        text = f"{(challenge.group(2) or '').lower()} {text}"
    reader = READERS.get(destination, _generic)
    return reader(status, body, text)


def grant_denial(status: int, content: bytes) -> tuple[str, str]:
    """A token endpoint's refusal: (class, the platform's words). ``invalid_grant`` means
    the refresh token (or the grant) was revoked or has expired."""
    doc = _dict(load(content))
    error = str(doc.get("error") or doc.get("status") or f"HTTP {status}")
    words = str(doc.get("error_description") or doc.get("message") or "")
    said = f"{error}: {words}" if words else error
    if error in ("invalid_grant", "BAD_REFRESH_TOKEN") or re.search(r"revok|expired", words):
        return REVOKED, said
    if error == "invalid_scope":
        return INSUFFICIENT_SCOPE, said
    return INVALID, said
