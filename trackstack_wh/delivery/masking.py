"""Credentials masked out of every text that is stored or printed.

A platform may quote the token it was sent in its error text (Meta does: "Invalid OAuth
access token - Cannot parse access token: ..."), and a proxy may echo a URL or a header.
``Masker`` replaces each credential of the run in the forms it can take on the way back:
as is, URL-encoded, JSON-escaped, and inside any Base64 text (``user:token`` for Basic
auth, or the token alone), whatever else that Base64 text holds.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
MIN_SECRET_LENGTH = 6
"""Shorter values are no real credential, and masking them would garble every message."""
BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")
URL_SAFE = str.maketrans("-_", "+/")


def _forms(secret: str) -> set[str]:
    """The texts ``secret`` can appear as, besides inside Base64."""
    escaped = json.dumps(secret)[1:-1]
    return {secret, quote(secret, safe=""), quote_plus(secret), quote(secret), escaped,
            json.dumps(escaped)[1:-1]}  # fmt: skip


def _decoded(run: str) -> bytes | None:
    """``run`` decoded as standard or URL-safe Base64, when it is either."""
    padded = run.rstrip("=")
    padded += "=" * (-len(padded) % 4)
    try:
        return base64.b64decode(padded.translate(URL_SAFE), validate=True)
    except (binascii.Error, ValueError):
        return None


class Masker:
    """Call with a text: the same text with every form of the secrets replaced by ``***``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._build({s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH})

    def _build(self, secrets: set[str]) -> None:
        self.secrets = sorted(secrets, key=len, reverse=True)
        forms = sorted({f for s in self.secrets for f in _forms(s)}, key=len, reverse=True)
        self.forms = forms + [base64.b64encode(s.encode()).decode() for s in self.secrets]
        """Texts a stored value holding a secret contains (to find ones stored unmasked)."""
        self.pattern = re.compile("|".join(map(re.escape, forms))) if forms else None
        self.raw = [s.encode() for s in self.secrets]

    def add(self, secret: str | None) -> None:
        """Mask ``secret`` too from now on (an access token fetched during the run)."""
        if secret and len(secret) >= MIN_SECRET_LENGTH and secret not in self.secrets:
            self._build({*self.secrets, secret})

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def __call__(self, text: str) -> str:
        if self.pattern is None or not text:
            return text
        text = self.pattern.sub(MASK, text)
        return BASE64_RUN.sub(self._base64_run, text)

    def content(self, body: bytes) -> bytes:
        """A response body, masked (decoded as UTF-8 with replacement when it has to be)."""
        if self.pattern is None or not body:
            return body
        text = body.decode("utf-8", "replace")
        masked = self(text)
        return body if masked == text else masked.encode()

    def _base64_run(self, match: re.Match[str]) -> str:
        run = match.group()
        # Letters before the Base64 text shift it: one of four starting offsets lines it up.
        for start in range(0, min(4, len(run))):
            decoded = _decoded(run[start:])
            if decoded is not None and any(raw in decoded for raw in self.raw):
                return MASK
        return run
