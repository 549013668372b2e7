"""The types a platform handler sees (a routed request) and returns (a reply)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from trackstack_lab.emulator.state import DestinationState


@dataclass(slots=True)
class Call:
    """One request routed to a platform handler."""

    destination: str
    method: str
    match: re.Match[str]
    query: dict[str, str]
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes
    now: float
    """The emulator clock, Unix seconds."""
    state: DestinationState
    reject: frozenset[int] = frozenset()
    """Element indices an injected ``reject`` fault makes invalid."""


@dataclass(slots=True)
class Reply:
    """What a handler answers, plus how the request counts in the stats."""

    status: int
    body: Any = None
    """JSON-serializable, or ``bytes`` sent as they are; ``None`` for an empty body."""
    headers: list[tuple[str, str]] = field(default_factory=list)
    accepted: bool = True
    """The platform processed the request (possibly with some rows refused)."""
    rejected_events: int = 0
    """Elements the platform refused (every element of a batch refused as a whole)."""


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    """A path pattern (below the destination prefix) and its handler per HTTP method."""

    pattern: re.Pattern[str]
    handlers: dict[str, Handler]
    counted: bool = True
    """A data-plane route: takes queued faults and counts in the stats. Token and check
    routes (the auth plane) do neither."""


@dataclass(frozen=True)
class Platform:
    """A destination's routes and its answers to injected faults."""

    name: str
    routes: tuple[Route, ...]
    auth_error: Callable[[], Reply]
    rate_limited: Callable[[], Reply]
    """The body of an injected HTTP 429 (the app adds ``Retry-After``)."""
    throttled: Callable[[], Reply]
    """The platform's own throttling answer (not always a 429)."""
    server_error: Callable[[int], Reply]


def route(pattern: str, *, counted: bool = True, **handlers: Handler) -> Route:
    """A route from a regex over the path below the prefix and handlers by method name."""
    return Route(re.compile(pattern), {m.upper(): h for m, h in handlers.items()}, counted)


def refused(status: int, body: Any, rejected_events: int = 0) -> Reply:
    """A reply for a request the platform refused as a whole."""
    return Reply(status, body, accepted=False, rejected_events=rejected_events)
