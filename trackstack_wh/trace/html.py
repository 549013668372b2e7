"""A trace in Jupyter: the same sections as the text, as tables; every value passes
through ``html.escape`` (values come from event data and platform answers)."""

from __future__ import annotations

import html
import json
from collections.abc import Iterable
from typing import Any

from trackstack_wh.trace.model import DestinationTrace, EventTrace, PayloadTrace, Row, Trace
from trackstack_wh.trace.text import (
    SHOWN_ELSEWHERE,
    attempt_text,
    bucket_text,
    compact,
    copy_of,
    key_sources_text,
    quality_text,
    where,
)

STYLE = (
    "<style>.ts-trace td,.ts-trace th{text-align:left;vertical-align:top;padding:2px 8px}"
    ".ts-trace pre{white-space:pre-wrap;margin:0;font-size:85%}"
    ".ts-trace h4{margin:12px 0 4px}</style>"
)


class Markup(str):
    """Text that is already escaped markup."""


def esc(value: Any) -> str:
    """A value as escaped text (JSON for lists and dicts, empty for None)."""
    if value is None:
        return ""
    return html.escape(value if isinstance(value, str) else compact(value))


def table(rows: Iterable[Iterable[Any]], head: Iterable[str] = ()) -> str:
    """An HTML table of escaped cells (a cell already built as markup is a ``Markup``)."""
    header = "".join(f"<th>{esc(h)}</th>" for h in head)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{c if isinstance(c, Markup) else esc(c)}</td>" for c in row)
        + "</tr>"
        for row in rows
    )
    return f"<table>{f'<tr>{header}</tr>' if header else ''}{body}</table>"


def pre(value: Any, summary: str | None = None) -> Markup:
    """``value`` (JSON indented) as preformatted text, folded under ``summary`` if given."""
    text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
    block = f"<pre>{html.escape(text)}</pre>"
    if summary is not None:
        block = f"<details><summary>{html.escape(summary)}</summary>{block}</details>"
    return Markup(block)


def lines(texts: Iterable[str]) -> Markup:
    return Markup("<br>".join(html.escape(t) for t in texts))


def render_html(trace: Trace) -> str:
    """The whole trace as one ``<div>``."""
    parts = [STYLE, '<div class="ts-trace">', f"<h3>Trace of {esc(trace.searched)}</h3>"]
    parts += [f"<p>note: {esc(n)}</p>" for n in trace.notes]
    if trace.matches:
        rows = [
            (m["ts"], m["event_name"], m["event_id"], m.get("value"), m.get("currency"),
             m["matched_by"], "; ".join(f"{d} {o}" for d, o in m["outcomes"].items()))
            for m in trace.matches
        ]  # fmt: skip
        head = ("time", "event", "event ID", "value", "currency", "found by", "outcomes")
        parts += [f"<h4>{len(rows)} event(s), most recent first</h4>", table(rows, head)]
    if trace.quarantined:
        parts += ["<h4>Quarantined records that mention it</h4>", _quarantine(trace.quarantined)]
    parts += [_event(event) for event in trace.events]
    parts.append("</div>")
    return "".join(parts)


def _event(event: EventTrace) -> str:
    parts = [f"<h4>{esc(event.headline)}</h4>"]
    parts += [f"<p>note: {esc(n)}</p>" for n in event.notes]
    facts: list[tuple[str, Any]] = []
    if event.source is not None:
        source = event.source
        facts.append(("source", where(source["source_uri"], source["line_no"])))
        facts += [(k, source[k]) for k in ("file_format", "batch_id", "received_at", "ingested_at")]
        if source.get("edge_batch"):
            facts.append(("edge batch", source["edge_batch"]))
    facts += [("replayed", r) for r in event.replays]
    facts += [("duplicate", copy_of(d)) for d in event.duplicates]
    facts += [("identify record", r) for r in event.identify]
    if event.quality is not None:
        facts.append(("quality", quality_text(event.quality)))
    if event.identity is not None:
        facts += [(k, key_sources_text(v) if k == "stitched" else v)
                  for k, v in event.identity.items() if v not in (None, [], {})]  # fmt: skip
    nowhere = event.routed_nowhere()
    if nowhere:
        facts.append(("routing", f"routed nowhere: {nowhere}"))
    parts.append(table(facts))
    if event.quarantine:
        parts += ["<p><b>quarantined</b></p>", _quarantine(event.quarantine)]
    if event.event is not None:
        fields = [(k, v) for k, v in event.event.items() if k not in SHOWN_ELSEWHERE]
        parts += ["<details><summary>fields</summary>", table(fields), "</details>"]
    if event.destinations:
        parts.append(_destinations(event.destinations))
    return "".join(parts)


def _quarantine(records: list[Row]) -> str:
    rows = [(where(q["source_uri"], q["line_no"]), ", ".join(q["reasons"] or [q["reason"]]),
             q["detail"], pre(q["raw"])) for q in records]  # fmt: skip
    return table(rows, ("file:line", "reasons", "detail and fix", "raw"))


def _destinations(destinations: list[DestinationTrace]) -> str:
    rows: list[tuple[Any, ...]] = []
    for dest in destinations:
        decision = dest.decision
        keys = ", ".join(dest.match_keys or [])
        if not dest.payloads:
            rows.append((dest.destination, decision, keys, "", "", ""))
        for row in dest.payloads:
            payload = pre(row.payload, "payload JSON") if row.payload is not None else ""
            attempts = lines(attempt_text(a) for a in row.attempts) if row.attempts else "none"
            rows.append((dest.destination, decision, keys, _status(row), payload, attempts))
    head = ("destination", "routing", "match keys", "payload row", "payload", "attempts")
    return table(rows, head)


def _status(row: PayloadTrace) -> Markup:
    texts = [f"{row.request_kind}: {row.status}"]
    if row.skip_reason:
        texts.append(f"{row.skip_reason} ({row.skip_detail or ''})")
    if row.duplicate_of:
        texts.append(f"duplicate of {row.duplicate_of}")
    texts.append(f"dedup key {row.dedup_key}")
    texts += [f"warning {w}" for w in row.warnings]
    if row.key_sources:
        texts.append(f"keys: {key_sources_text(row.key_sources)}")
    texts += [f"reconciled {bucket_text(b)}" for b in row.reconciliation]
    return lines(texts)
