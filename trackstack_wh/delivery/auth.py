"""``PlatformAuth``: the ``httpx.Auth`` that puts a destination's credential on each
request, and renews it once when the platform answers that it expired.

Where the token goes is the request's ``credential`` extension (``CREDENTIAL``):
``bearer`` (``Authorization: Bearer``), ``query`` (the ``access_token`` parameter:
Meta, Snapchat's Conversions API), ``tiktok`` (the ``Access-Token`` header) or
``body_key`` (PostHog's project API key, the JSON body's ``api_key``: the body is built
with ``***`` there and rewritten only on the wire). A 401 that
reads as expired (or as an unrecognised token) makes a renewable source fetch a new
token and the request go out once more; the engine only ever sees the second answer, so
an expiry mid-run never costs a row. A static token is never renewed: its 401 reaches
the engine, which halts the destination.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator

import httpx
import orjson

from trackstack_wh.delivery.denials import INSUFFICIENT_SCOPE, REVOKED, credential_denial
from trackstack_wh.delivery.tokens import TokenSource

CREDENTIAL = "trackstack_credential"
"""Request extension naming where the credential goes (default ``bearer``)."""
BODY_KEY = "body_key"
"""The credential style of a key sent as the JSON body's ``api_key`` (PostHog)."""
BODY_KEY_SENT = b'{"api_key":"***"'
"""How a ``body_key`` request's body starts before its key is written in."""


class PlatformAuth(httpx.Auth):
    """Sets the destination's current access token on every request it signs."""

    def __init__(self, destination: str, source: TokenSource) -> None:
        self.destination, self.source = destination, source

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("PlatformAuth signs requests of an httpx.AsyncClient only")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.source.token()
        request = _place(request, token)
        response = yield request
        if self.source.renewable and response.status_code == 401:
            await response.aread()
            if self._expired(response):
                yield _place(request, await self.source.renew(token))

    def _expired(self, response: httpx.Response) -> bool:
        headers = {k.lower(): v for k, v in response.headers.items()}
        denial = credential_denial(self.destination, 401, headers, response.content)
        return denial not in (REVOKED, INSUFFICIENT_SCOPE)


def _place(request: httpx.Request, token: str) -> httpx.Request:
    """``request`` carrying ``token`` where its ``CREDENTIAL`` style says."""
    style = request.extensions.get(CREDENTIAL, "bearer")
    if style == BODY_KEY:
        return _with_body_key(request, token)
    if style == "query":
        request.url = request.url.copy_set_param("access_token", token)
    elif style == "tiktok":
        request.headers["Access-Token"] = token
    else:
        request.headers["Authorization"] = f"Bearer {token}"
    return request


def _with_body_key(request: httpx.Request, token: str) -> httpx.Request:
    """A copy of ``request`` whose JSON body starts with the real ``api_key`` instead of
    `BODY_KEY_SENT` (a body in any other shape goes as it is)."""
    content = request.content
    if not content.startswith(BODY_KEY_SENT):
        return request
    body = b'{"api_key":' + orjson.dumps(token) + content[len(BODY_KEY_SENT) :]
    headers = [(k, v) for k, v in request.headers.items() if k.lower() != "content-length"]
    return httpx.Request(
        request.method, request.url, headers=headers, content=body, extensions=request.extensions
    )
