"""The credential check: one cheap authenticated call per destination, classified.

``check_credentials(config)`` verifies every enabled destination (``trackstack-wh
check-credentials``); a push runs the same check (``verify``) before it sends a
destination's first row and halts the destination when it fails, its rows left pending.
Each result is ``ok``, ``missing`` (names the unset variables), ``expired``, ``revoked``,
``insufficient_scope``, ``unreachable`` or ``invalid``, with a one-line fix.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx

from trackstack_wh.config import Destination, WorkspaceConfig
from trackstack_wh.config.destinations import STATIC
from trackstack_wh.delivery.auth import PlatformAuth
from trackstack_wh.delivery.denials import (
    EXPIRED,
    INSUFFICIENT_SCOPE,
    INVALID,
    REVOKED,
    credential_denial,
    load,
)
from trackstack_wh.delivery.fixes import fix_for
from trackstack_wh.delivery.http import Answer, Sender, TransportFailure
from trackstack_wh.delivery.masking import Masker
from trackstack_wh.delivery.plan import missing_secrets, run_masker
from trackstack_wh.delivery.platform_auth import CheckCall, check_call, check_url
from trackstack_wh.delivery.ratelimit import backoff_delay
from trackstack_wh.delivery.taxonomy import AUTH, CONFIG, RETRYABLE
from trackstack_wh.delivery.tokens import MISSING, UNREACHABLE, CredentialError, token_source
from trackstack_wh.delivery.verdicts import Failure, body_text
from trackstack_wh.errors import ConfigError
from trackstack_wh.payloads.requests import platform_headers

OK = "ok"
STATUSES = (OK, MISSING, EXPIRED, REVOKED, INSUFFICIENT_SCOPE, UNREACHABLE, INVALID)
TRIES = 3
"""Check calls per destination when the platform does not answer (or answers 429/5xx)."""
HALT_CLASS = {MISSING: CONFIG, UNREACHABLE: RETRYABLE}
"""The error class a push halts with per failed status (else ``auth``)."""


@dataclass
class CredentialCheck:
    """One destination's credential check; ``message`` and ``fix`` hold no secret."""

    destination: str
    status: str
    auth: str
    message: str
    fix: str = ""
    missing: tuple[str, ...] = ()
    """Unset variables (status ``missing``)."""
    http_status: int | None = None
    answer: Answer | None = field(default=None, repr=False, compare=False)
    """The check call's answer (the push reads the Salesforce org usage from it)."""

    @property
    def ok(self) -> bool:
        return self.status == OK

    def failure(self) -> Failure:
        """The halt reason a push records for a failed check."""
        code = "missing_credentials" if self.status == MISSING else f"credentials_{self.status}"
        text = f"credential check {self.status}: {self.message}"
        return Failure(HALT_CLASS.get(self.status, AUTH), code, f"{text}; fix: {self.fix}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "status": self.status,
            "ok": self.ok,
            "auth": self.auth,
            "message": self.message,
            "fix": self.fix,
            "missing": list(self.missing),
            "http_status": self.http_status,
        }

    def __str__(self) -> str:
        line = f"{self.destination:<11} {self.status:<18} {self.message}"
        return line if self.ok else f"{line}\n{'':<12}fix: {self.fix}"


class Credentials:
    """A destination's token source and request signer for one run (or one check)."""

    def __init__(
        self, dest: Destination, mask: Masker, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.client = httpx.AsyncClient(transport=transport, timeout=30.0, follow_redirects=False)
        self.source = token_source(dest, self.client, mask)
        self.auth = PlatformAuth(dest.name, self.source)

    async def aclose(self) -> None:
        await self.client.aclose()


def _result(dest: Destination, status: str, message: str, **extra: Any) -> CredentialCheck:
    return CredentialCheck(dest.name, status, dest.auth, message, fix_for(dest, status), **extra)


def _headers(dest: Destination, call: CheckCall) -> dict[str, str]:
    return dict(call.headers) | platform_headers(
        dest, developer_token=call.developer_token, reveal_secrets=True
    )


def _read(dest: Destination, call: CheckCall, answer: Answer, mask: Masker) -> CredentialCheck:
    """The status a check call's answer means."""
    content = mask.content(answer.content)
    said = mask(body_text(content))[:200]
    doc = load(content) if dest.name == "tiktok" else None
    refused_inside = isinstance(doc, dict) and doc.get("code") not in (None, 0)
    if answer.status in call.accepted and not refused_inside:
        why = "" if answer.status == 200 else ", as expected for this call"
        return _result(dest, OK, f"credential accepted (HTTP {answer.status}{why})",
                       http_status=answer.status, answer=answer)  # fmt: skip
    denial = credential_denial(dest.name, answer.status, answer.headers, content)
    if denial is not None:
        return _result(dest, denial, f"HTTP {answer.status}: {said}", http_status=answer.status)
    if answer.status == 429 or answer.status >= 500:
        return _result(dest, UNREACHABLE, f"HTTP {answer.status}: {said}",
                       http_status=answer.status)  # fmt: skip
    return _result(dest, INVALID, f"HTTP {answer.status}: {said}", http_status=answer.status)


async def verify(
    dest: Destination,
    sender: Sender,
    mask: Masker,
    *,
    retry_base: float = 0.5,
    retry_max: float = 5.0,
) -> CredentialCheck:
    """Check ``dest``'s credential with one authenticated GET through ``sender`` (whose
    ``PlatformAuth`` fetches the token first); a call that gets no answer, a 429 or a 5xx
    is tried ``TRIES`` times."""
    missing = missing_secrets(dest)
    if missing:
        message = f"environment variable(s) {', '.join(missing)} not set"
        return _result(dest, MISSING, message, missing=tuple(missing))
    if dest.auth == STATIC and not dest.credential_envs().get("access_token_env"):
        key = f"destinations.{dest.name}.access_token_env"
        return _result(dest, MISSING, f"{key} names no variable")
    call = check_call(dest)
    url, headers = check_url(dest), _headers(dest, call)
    result = _result(dest, UNREACHABLE, "not checked")
    for attempt in range(1, TRIES + 1):
        try:
            answer = await sender.send(call.method, url, headers, call.body, credential=call.style)
        except CredentialError as exc:
            return _result(dest, exc.status, exc.message)
        except TransportFailure as exc:
            result = _result(dest, UNREACHABLE, f"no answer ({exc.code}: {exc.message})")
        else:
            result = _read(dest, call, answer, mask)
        if result.status != UNREACHABLE or attempt == TRIES:
            return result
        await asyncio.sleep(backoff_delay(attempt, base=retry_base, cap=retry_max))
    return result


async def _check_one(
    dest: Destination, mask: Masker, transport: httpx.AsyncBaseTransport | None
) -> CredentialCheck:
    credentials = Credentials(dest, mask, transport)
    sender = Sender(timeout=30.0, concurrency=1, transport=transport, auth=credentials.auth)
    try:
        return await verify(dest, sender, mask)
    finally:
        await sender.aclose()
        await credentials.aclose()


def check_credentials(
    config: WorkspaceConfig,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    destinations: Iterable[str] | None = None,
) -> list[CredentialCheck]:
    """Check every enabled destination's credentials (or those named), side by side,
    with the cheapest authenticated call each platform offers."""
    from trackstack_wh.delivery.push import run_coroutine

    if destinations is None:
        chosen = config.enabled()
    else:
        chosen = []
        for name in destinations:
            if name not in config.destinations:
                known = sorted(config.destinations)
                raise ConfigError(f"unknown destination {name!r}; choose from {known}")
            chosen.append(config.destinations[name])
    mask = run_masker(chosen)

    async def run_all() -> list[CredentialCheck]:
        return list(await asyncio.gather(*(_check_one(d, mask, transport) for d in chosen)))

    return run_coroutine(run_all())
