"""google-auth's transport interface over the run's httpx client.

google-auth refreshes synchronously; the token source runs that refresh in a worker
thread, and each HTTP request it makes is sent by the run's ``httpx.AsyncClient`` on the
event loop (so tests' transports and the emulator answer it like any other request).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
from google.auth import exceptions, transport

TIMEOUT = 30.0


class LoopResponse(transport.Response):
    """An httpx response as google-auth reads it."""

    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


class LoopRequest(transport.Request):
    """Sends google-auth's requests with ``client`` on ``loop`` (call from another thread)."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop) -> None:
        self.client, self.loop = client, loop

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> LoopResponse:
        request = self.client.request(method, url, content=body, headers=dict(headers or {}))
        future = asyncio.run_coroutine_threadsafe(request, self.loop)
        try:
            return LoopResponse(future.result(timeout or TIMEOUT))
        except (httpx.HTTPError, TimeoutError) as exc:
            raise exceptions.TransportError(type(exc).__name__) from None  # type: ignore[no-untyped-call]
