"""Per-destination pacing: a token bucket that a 429 can pause for everyone."""

from __future__ import annotations

import asyncio
import random
import time

from trackstack_wh.errors import UsageError

MAX_RETRY_AFTER = 120.0
"""Longest single wait a Retry-After can impose."""


class TokenBucket:
    """``rate`` requests per second on average, bursts up to ``burst``.

    ``pause(seconds)`` holds back every caller (not just the one that was throttled),
    so requests are not retried into the same rate-limit window.
    """

    def __init__(self, rate: float, burst: int | None = None) -> None:
        if rate <= 0:
            raise UsageError(f"rate must be a positive number of requests per second, got {rate}")
        self.rate = rate
        self.capacity = float(burst if burst is not None else max(1, round(rate)))
        self.tokens = self.capacity
        self.updated = time.monotonic()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)

    def pause(self, seconds: float) -> None:
        """No request starts for ``seconds`` from now; the bucket restarts empty."""
        until = time.monotonic() + seconds
        if until > self.paused_until:
            self.paused_until = until
            self.tokens = 0.0
            self.updated = until


def backoff_delay(
    tries: int, *, base: float, cap: float, retry_after: float | None = None
) -> float:
    """Seconds before try ``tries + 1``: exponential with jitter, never below Retry-After.

    A Retry-After of 0 still waits the exponential delay: "now" from a throttled server
    is not an invitation to hammer it.
    """
    exponential = min(cap, base * 2.0 ** max(0, tries - 1))
    delay = exponential * (0.5 + random.random() / 2)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay
