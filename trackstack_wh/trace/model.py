"""What a trace holds: one conversion end to end, or the conversions an email or a
transaction ID leads to. Plain data (JSON-ready values, secrets already masked); the
terminal and notebook renderings are in `text` and `html`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
"""One record of a section, with JSON-ready values."""


@dataclass
class PayloadTrace:
    """One payload row of an event for one destination and request kind, with every
    delivery attempt of it and its reconciliation bucket per delivery target."""

    request_kind: str
    status: str
    skip_reason: str | None
    skip_detail: str | None
    duplicate_of: str | None
    platform_event_name: str | None
    dedup_key: str | None
    warnings: list[str]
    key_sources: Row | None
    payload: Any
    built_at: str | None
    attempts: list[Row] = field(default_factory=list)
    reconciliation: list[Row] = field(default_factory=list)


@dataclass
class DestinationTrace:
    """One destination's routing decision for an event and what became of it."""

    destination: str
    routed: bool | None
    """None: not routed by the current rules (the destination is not enabled, or payloads
    were never built), though payload rows may exist from earlier builds."""
    platform_event_name: str | None
    route_reason: str | None
    route_detail: str | None
    match_keys: list[str] | None
    payloads: list[PayloadTrace] = field(default_factory=list)

    @property
    def decision(self) -> str:
        """The routing decision in words: routed as which platform event, or why not."""
        if self.routed is None:
            return "not in the current routing (destination disabled, or payloads not built)"
        if self.routed:
            return f"routed as {self.platform_event_name}"
        return f"not routed: {self.route_reason} ({self.route_detail})"

    @property
    def outcome(self) -> str:
        """One word or two: ``delivered``, ``skipped:no_match_keys``, ``not routed:...``."""
        if self.routed is False:
            return f"not routed:{self.route_reason}"
        if not self.payloads:
            return "no payload row"
        states = [
            row_state(
                row.status, row.skip_reason, row.attempts[-1]["outcome"] if row.attempts else None
            )
            for row in self.payloads
        ]
        return ", ".join(dict.fromkeys(states))


def row_state(status: str, skip_reason: str | None, last_outcome: str | None) -> str:
    """A payload row in a word: ``skipped:<reason>``, ``duplicate``, its latest delivery
    outcome (``delivered``, ``rejected``...) or ``not sent``."""
    if status == "skipped":
        return f"skipped:{skip_reason}"
    if status == "duplicate":
        return "duplicate"
    return last_outcome or "not sent"


@dataclass
class EventTrace:
    """Everything the warehouse knows about one event ID."""

    event_id: str
    found_in: list[str]
    """Where the ID was found: ``events``, ``quarantine``, ``duplicates``, ``identities``."""
    source: Row | None = None
    event: Row | None = None
    quality: Row | None = None
    identity: Row | None = None
    destinations: list[DestinationTrace] = field(default_factory=list)
    duplicates: list[Row] = field(default_factory=list)
    quarantine: list[Row] = field(default_factory=list)
    replays: list[Row] = field(default_factory=list)
    identify: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def headline(self) -> str:
        """Event name, ID and time; or what the ID is when it is not an event."""
        if self.event is not None:
            return f"{self.event.get('event_name')} {self.event_id} at {self.event.get('ts')}"
        kinds = " and ".join(self.found_in)
        return f"{self.event_id} (not an event: only in {kinds})"

    def routed_nowhere(self) -> str | None:
        """Why the event goes to no destination, when it goes to none."""
        if not self.destinations or any(d.routed is not False for d in self.destinations):
            return None
        reasons = dict.fromkeys(str(d.route_reason) for d in self.destinations)
        return ", ".join(reasons)


@dataclass
class Trace:
    """The result of ``wh.trace(...)``: full traces (``events``), and for an email or a
    transaction ID the list of conversions found (``matches``, most recent first) and
    quarantined records that mention it. ``to_text()`` for a terminal, ``to_dict()`` for
    JSON, an HTML rendering in Jupyter."""

    searched: str
    """What was looked up, in words (``event ID 'x'``, ``email 'a@b.example'``)."""
    query: Row
    events: list[EventTrace]
    matches: list[Row] = field(default_factory=list)
    quarantined: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> Row:
        """Every section as JSON-ready data (``--json``)."""
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_text(self) -> str:
        """The trace for a terminal."""
        from trackstack_wh.trace.text import render_text

        return render_text(self)

    def _repr_html_(self) -> str:
        from trackstack_wh.trace.html import render_html

        return render_html(self)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Trace of {self.searched}: {len(self.events)} traced, {len(self.matches)} found>"


def plain(value: Any, mask: Callable[[str], str]) -> Any:
    """``value`` as JSON-ready data with every text masked: times as ISO-8601 (UTC),
    structs as dicts, JSON text left as text."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, dict):
        return {mask(str(k)): plain(v, mask) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v, mask) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return mask(str(value))


def parsed_json(text: str | None, mask: Callable[[str], str]) -> Any:
    """A JSON column's text parsed (then masked), or the masked text if it is not JSON."""
    if text is None:
        return None
    try:
        return plain(json.loads(text), mask)
    except ValueError:
        return mask(text)
