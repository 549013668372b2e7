"""Who may send events: keys found in constant time, and the origin rules per key kind."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from trackstack_wh.config import KeyKind, ProjectKey
from trackstack_wh.config.checks import host_allowed


class Refusal(Exception):
    """A request the sink answers with an error status."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.extra = extra
        self.retry_after: str | None = None


class KeyRing:
    """Finds the key a request presents, comparing against every key in constant time."""

    def __init__(self, keys: list[ProjectKey]) -> None:
        self._keys = [(hashlib.sha256(k.secret).digest(), k) for k in keys]

    def find(self, presented: bytes) -> ProjectKey | None:
        digest = hashlib.sha256(presented).digest()
        found = None
        for known, key in self._keys:
            if hmac.compare_digest(digest, known):
                found = key
        return found


def origin_host(value: str | None) -> str | None:
    """The lowercase host of an Origin header or an x-ts-domain value."""
    if not value or value == "null":
        return None
    text = value if "://" in value else f"//{value}"
    try:
        return urlsplit(text).hostname
    except ValueError:
        return None


def check_origin(key: ProjectKey, headers: dict[bytes, bytes]) -> None:
    """Publishable keys only from the project's origins; secret keys never from a
    browser (and, with x-ts-domain, only for an allowed domain when the project lists
    its origins)."""
    origin = headers.get(b"origin")
    domain = headers.get(b"x-ts-domain")
    patterns = key.project.allowed_origins
    if key.kind is KeyKind.SECRET:
        if origin is not None:
            raise Refusal(
                403,
                "secret_key_in_browser",
                "secret keys are for servers; browsers use the publishable key",
            )
        host = origin_host(domain.decode("latin-1")) if domain else None
        if domain is not None and patterns and not (host and host_allowed(host, patterns)):
            raise Refusal(
                403,
                "domain_not_allowed",
                "x-ts-domain is not an allowed origin of the key's project",
            )
        return
    raw = origin if origin is not None else domain
    if raw is None:
        raise Refusal(
            403,
            "origin_required",
            "a publishable key needs the browser Origin header or x-ts-domain",
        )
    host = origin_host(raw.decode("latin-1"))
    if host is None or not host_allowed(host, patterns):
        raise Refusal(403, "origin_not_allowed", "this origin is not allowed for the key's project")
