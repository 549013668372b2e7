"""What a push run is given and where each request kind goes, with the secrets revealed
only here (and scrubbed from any text that leaves)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import httpx

from trackstack_wh.delivery.report import DestinationReport
from trackstack_wh.destinations.config import Destination
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
    """Each request kind's endpoint, URL and headers, credentials included."""
    out = []
    for kind in kinds(dest):
        endpoint = ENDPOINTS[(dest.name, kind)]
        url = endpoint_url(endpoint, dest, reveal_secrets=True)
        headers = endpoint_headers(endpoint, dest, reveal_secrets=True)
        out.append(Target(kind, endpoint, url, headers))
    return out


def missing_secrets(dest: Destination) -> list[str]:
    """Names of the credential variables the destination needs but are unset."""
    needed = ["access_token_env"] + (["developer_token_env"] if dest.name == "google_ads" else [])
    return [dest.settings[k] for k in needed if dest.settings.get(k) and not dest.secret(k)]


def scrub(dest: Destination, text: str) -> str:
    """``text`` without any of the destination's secrets (plain or URL-encoded), shortened."""
    for key in dest.settings:
        secret = dest.secret(key) if key.endswith("_env") else None
        if secret:
            text = text.replace(secret, "***").replace(quote(secret, safe=""), "***")
    return text[:300]
