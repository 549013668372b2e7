"""The emulator's mutable state: its clock, and per destination the recorded identities,
the request counters, the queue of injected faults and the issued tokens."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from trackstack_lab.emulator.tokens import TokenBook

FAULT_KINDS = frozenset(
    {"429", "500", "503", "throttle", "timeout", "drop", "slow", "auth", "reject"}
)
TIMEOUT_DELAY = 5.0
SLOW_DELAY = 1.0


class Clock:
    """A pinned start time that advances with real (monotonic) time."""

    def __init__(self, start: datetime | None = None) -> None:
        self.set(start)

    def set(self, start: datetime | None) -> None:
        """Pin "now" to ``start`` (naive means UTC; None means the real time)."""
        if start is None:
            pinned = time.time()
        else:
            pinned = (start if start.tzinfo else start.replace(tzinfo=UTC)).timestamp()
        self._pinned = pinned
        self._anchor = time.monotonic()

    def now(self) -> float:
        """Unix seconds on the emulator clock."""
        return self._pinned + (time.monotonic() - self._anchor)

    def iso(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).isoformat()


@dataclass
class Fault:
    """One queued fault: its kind, how many more requests it applies to, and options."""

    kind: str
    times: int = 1
    retry_after: str | None = "1"
    delay: float = TIMEOUT_DELAY
    indices: frozenset[int] = frozenset()


def parse_fault(spec: dict[str, Any]) -> tuple[str, Fault]:
    """``(destination, fault)`` from an admin request body; ``ValueError`` if malformed."""
    destination = spec.get("destination")
    kind = str(spec.get("fault"))
    if not isinstance(destination, str) or not destination:
        raise ValueError("destination is required")
    if kind not in FAULT_KINDS:
        raise ValueError(f"fault must be one of {sorted(FAULT_KINDS)}")
    times = spec.get("times", 1)
    if type(times) is not int or times < 1:
        raise ValueError("times must be a positive integer")
    retry_after = spec.get("retry_after", "1")
    if retry_after is not None:
        retry_after = str(retry_after)
    default_delay = SLOW_DELAY if kind == "slow" else TIMEOUT_DELAY
    delay = spec.get("delay", default_delay)
    if not isinstance(delay, int | float) or isinstance(delay, bool) or delay < 0:
        raise ValueError("delay must be a non-negative number of seconds")
    indices = spec.get("indices", [])
    if not isinstance(indices, list) or not all(type(i) is int for i in indices):
        raise ValueError("indices must be a list of integers")
    if kind == "reject" and not indices:
        raise ValueError("a reject fault needs indices")
    fault = Fault(kind, times, retry_after, float(delay), frozenset(indices))
    return destination, fault


class DestinationState:
    """What one destination has received: identities, counters, CRM objects, faults."""

    def __init__(self) -> None:
        self.faults: deque[Fault] = deque()
        self.reset()

    def reset(self) -> None:
        """Forget everything recorded and every queued fault."""
        self.identities: dict[str, int] = {}
        self.objects: set[tuple[str, str]] = set()
        """CRM records created so far, as (object type, external ID)."""
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        """CRM records' fields as last written, by (object type, external ID)."""
        self.requests = 0
        self.accepted_requests = 0
        self.rejected_requests = 0
        self.received = 0
        self.rejected_events = 0
        self.test_events = 0
        self.faults.clear()
        self.coverage: dict[str, dict[str, int]] = {}
        """Meta: per event name, events received and those carrying each identifier."""
        self.request_status: dict[str, int] = {}
        """Google Data Manager: records per request ID answered."""
        self.tokens = TokenBook()
        """Issued access tokens and the auth switches (``/_emulator/auth``)."""
        self.extra: dict[str, Any] = {}
        """A platform's own state by name (PostHog's project: ``platforms.posthog``)."""

    def record(self, identities: Iterable[str], *, test: bool = False) -> None:
        """Count accepted elements by their dedup identities."""
        seen = self.identities
        count = 0
        for identity in identities:
            seen[identity] = seen.get(identity, 0) + 1
            count += 1
        self.received += count
        if test:
            self.test_events += count

    def next_fault(self) -> Fault | None:
        """The fault for the next request, if any (FIFO; each applies ``times`` times)."""
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self.faults.popleft()
        return fault

    def stats(self) -> dict[str, int]:
        unique = len(self.identities)
        return {
            "requests": self.requests,
            "accepted_requests": self.accepted_requests,
            "rejected_requests": self.rejected_requests,
            "received": self.received,
            "unique": unique,
            "duplicates": self.received - unique,
            "rejected_events": self.rejected_events,
            "test_events": self.test_events,
        }
