"""The one module that talks HTTP (httpx): an async client per destination."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from trackstack_wh.delivery.auth import CREDENTIAL
from trackstack_wh.delivery.tokens import UNREACHABLE, CredentialError


@dataclass(frozen=True)
class Answer:
    """A response as the parsers need it."""

    status: int
    headers: dict[str, str]
    content: bytes
    latency_ms: float


class TransportFailure(Exception):
    """No usable response: timeout, refused or dropped connection. ``code`` names which."""

    def __init__(self, code: str, message: str, latency_ms: float) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.latency_ms = latency_ms


class Sender:
    """Sends prepared requests; one per destination so a slow one cannot take the pool.
    ``auth`` (``PlatformAuth``) puts the credential on each request; a token it cannot
    get raises ``CredentialError`` (``TransportFailure`` when its endpoint is down)."""

    def __init__(
        self,
        *,
        timeout: float,
        concurrency: int,
        transport: httpx.AsyncBaseTransport | None = None,
        auth: httpx.Auth | None = None,
    ) -> None:
        self.client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            transport=transport,
            follow_redirects=False,
            auth=auth,
        )

    async def send(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes,
        *,
        credential: str = "bearer",
    ) -> Answer:
        """One request; ``credential`` says where the token goes (``auth.CREDENTIAL``)."""
        started = time.perf_counter()
        try:
            response = await self.client.request(
                method, url, headers=headers, content=content, extensions={CREDENTIAL: credential}
            )
        except CredentialError as exc:
            if exc.status != UNREACHABLE:
                raise
            raise TransportFailure(
                "token_endpoint_unreachable", exc.message, _ms(started)
            ) from None
        except httpx.TimeoutException as exc:
            raise TransportFailure("timeout", type(exc).__name__, _ms(started)) from None
        except httpx.DecodingError:
            # An answer came, but its body cannot be decoded (a truncated gzip from a proxy):
            # whether the platform took the rows is unknown, so they are sent again.
            raise TransportFailure("undecodable_answer", "DecodingError", _ms(started)) from None
        except httpx.TransportError as exc:
            # The text of transport errors can carry the URL (and so a query-string token):
            # only the exception type leaves this function.
            raise TransportFailure("connection_error", type(exc).__name__, _ms(started)) from None
        return Answer(
            response.status_code,
            {k.lower(): v for k, v in response.headers.items()},
            response.content,
            _ms(started),
        )

    async def aclose(self) -> None:
        await self.client.aclose()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
