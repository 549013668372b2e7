"""Access tokens the emulator issues, and the state of any token it is shown.

Per destination (``TokenBook``): tokens issued by the token endpoints with a lifetime
tests can make short (``token_lifetime``), and two switches: ``revoked`` (issued tokens
and refresh tokens are refused as revoked) and ``wrong_scope`` (tokens issued from then
on lack the platform's scope). A token the emulator did not issue (a static token) is
judged by its prefix: ``expired...``, ``revoked...``, ``noscope...`` answer as such,
``invalid...`` (and an empty one) as invalid, anything else is accepted.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

OK = "ok"
EXPIRED = "expired"
REVOKED = "revoked"
SCOPE = "scope"
INVALID = "invalid"
STATIC_PREFIXES = {"expired": EXPIRED, "revoked": REVOKED, "noscope": SCOPE, "invalid": INVALID}
DEFAULT_LIFETIME = 3600.0


@dataclass
class Issued:
    expires_at: float
    """``time.monotonic()`` seconds."""
    scoped: bool


@dataclass
class TokenBook:
    """One destination's issued tokens and auth switches."""

    lifetime: float = DEFAULT_LIFETIME
    revoked: bool = False
    wrong_scope: bool = False
    issued: dict[str, Issued] = field(default_factory=dict)
    tokens_issued: int = 0
    grants_refused: int = 0
    checks: int = 0

    def issue(self, destination: str) -> tuple[str, float]:
        """A new access token and its lifetime in seconds."""
        token = f"emu-{destination}-{secrets.token_urlsafe(18)}"
        self.issued[token] = Issued(time.monotonic() + self.lifetime, not self.wrong_scope)
        self.tokens_issued += 1
        return token, self.lifetime

    def state(self, token: Any) -> str:
        """``ok``, ``expired``, ``revoked``, ``scope`` or ``invalid``."""
        if type(token) is not str or not token:
            return INVALID
        issued = self.issued.get(token)
        if issued is None:
            prefix = next((p for p in STATIC_PREFIXES if token.startswith(p)), None)
            return OK if prefix is None else STATIC_PREFIXES[prefix]
        if self.revoked:
            return REVOKED
        if time.monotonic() >= issued.expires_at:
            return EXPIRED
        return OK if issued.scoped else SCOPE

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply ``token_lifetime`` / ``revoked`` / ``wrong_scope`` (ValueError if bad)."""
        lifetime = spec.get("token_lifetime", self.lifetime)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
            raise ValueError("token_lifetime must be a positive number of seconds")
        for key in ("revoked", "wrong_scope"):
            if key in spec and type(spec[key]) is not bool:
                raise ValueError(f"{key} must be true or false")
        self.lifetime = float(lifetime)
        self.revoked = spec.get("revoked", self.revoked)
        self.wrong_scope = spec.get("wrong_scope", self.wrong_scope)

    def stats(self) -> dict[str, Any]:
        return {
            "token_lifetime": self.lifetime,
            "revoked": self.revoked,
            "wrong_scope": self.wrong_scope,
            "tokens_issued": self.tokens_issued,
            "grants_refused": self.grants_refused,
            "checks": self.checks,
        }
