"""A request as the receiver parsed it, an HTTP answer and the record of both."""

from __future__ import annotations

import json
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

JSON = "application/json"


@dataclass(frozen=True)
class Answer:
    """One HTTP answer."""

    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def _json(status: int, doc: Any, headers: Iterable[tuple[str, str]] = ()) -> Answer:
    return Answer(status, json.dumps(doc).encode(), JSON, tuple(headers))


@dataclass
class RecordedRequest:
    """One request as it arrived and how it was answered (header names lowercased)."""

    seq: int
    destination: str
    kind: str | None
    method: str
    path: str
    """The path after ``/{destination}``, without the query."""
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    version: str | None = None
    status: int | None = None
    """None when the connection was dropped without an answer."""
    answer: bytes = b""
    fault: str | None = None
    """The fault that answered (``every``, ``always``, ``echo_credential``, ``drop``)."""
    elements: int = 0
    keys: list[Hashable] = field(default_factory=list)
    """Every element's dedup key, in body order."""
    written: int = 0
    """How many of the elements count as received."""
    received_at: float = 0.0
    """``time.time()`` when the request arrived."""
    seconds: float = 0.0
    """Time spent answering (delays included)."""


@dataclass
class Call:
    """A parsed request."""

    method: str
    destination: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    doc: Any = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def bearer(self) -> str | None:
        value = self.header("authorization") or ""
        scheme, _, token = value.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None

    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]


def _parse_body(call: Call) -> Any:
    """JSON, or a form (Meta documents ``data`` as a JSON-encoded form field)."""
    content_type = (call.header("content-type") or "").lower()
    if "application/x-www-form-urlencoded" in content_type:
        form = {k: v[0] for k, v in parse_qs(call.body.decode("utf-8", "replace")).items()}
        if "data" in form:
            form["data"] = json.loads(form["data"])
        return form
    return json.loads(call.body) if call.body else None
