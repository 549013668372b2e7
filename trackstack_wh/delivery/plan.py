"""What a push run is given and where each request kind goes, with the secrets revealed
only here (and masked out of any text that leaves)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import httpx

from trackstack_wh.config import Destination
from trackstack_wh.delivery.masking import Masker
from trackstack_wh.delivery.report import DestinationReport
from trackstack_wh.payloads.requests import ENDPOINTS, Endpoint, endpoint_headers, endpoint_url


@dataclass(frozen=True)
class PushOptions:
    """What one push run does, shared by every destination in it."""

    run_id: str
    as_of: dt.datetime
    dry_run: bool = False
    retry_failed: bool = False
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    event_names: tuple[str, ...] | None = None
    """Only rows of these canonical events (None: all)."""
    transport: httpx.AsyncBaseTransport | None = None
    """Where requests go (None: the network); tests and embedders inject one."""
    progress: Callable[[DestinationReport], None] | None = None
    """Called with the destination's running report after each answer and at the end."""
    mask: Masker = field(default_factory=lambda: Masker(()))
    """Masks every credential of the run (``run_masker``, and the tokens fetched during
    it) in stored and printed text."""


@dataclass(frozen=True)
class Target:
    kind: str
    endpoint: Endpoint
    url: str
    headers: dict[str, str]


def kinds(dest: Destination) -> list[str]:
    """The request kinds a destination's payload table can hold."""
    return [k for (d, k) in ENDPOINTS if d == dest.name]


def targets(dest: Destination) -> list[Target]:
    """Each request kind's endpoint, URL and headers: the developer token included, the
    access token left to ``PlatformAuth`` (it may be renewed mid-run)."""
    out = []
    for kind in kinds(dest):
        endpoint = ENDPOINTS[(dest.name, kind)]
        url = endpoint_url(endpoint, dest, reveal_secrets=True, credential=False)
        headers = endpoint_headers(endpoint, dest, reveal_secrets=True, credential=False)
        out.append(Target(kind, endpoint, url, headers))
    return out


def missing_secrets(dest: Destination) -> list[str]:
    """Names of the credential variables the destination's auth mode reads but are unset."""
    return [name for key, name in dest.credential_envs().items() if not dest.secret(key)]


def run_masker(destinations: Iterable[Destination]) -> Masker:
    """A masker for every credential the destinations of a run can send."""
    return Masker(dest.secret(key) for dest in destinations for key in dest.credential_envs())
