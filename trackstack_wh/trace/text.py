"""A trace for the terminal: one block per event, one sub-block per destination."""

from __future__ import annotations

import json
from typing import Any

from trackstack_wh.trace.model import DestinationTrace, EventTrace, PayloadTrace, Row, Trace

SHOWN_ELSEWHERE = frozenset({
    "event_id", "event_name", "ts", "batch_id", "line_no", "event_seq", "received_at",
    "input_shape", "ts_inferred", "event_id_generated", "edge_batch_id", "edge_received_at",
})  # fmt: skip
"""Event columns the source line already shows."""
LABEL = 12


def compact(value: Any) -> str:
    """JSON on one line (texts as they are)."""
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def line(label: str, text: str, indent: int = 2) -> str:
    return f"{' ' * indent}{label:<{LABEL - 1}} {text}"


def where(uri: Any, line_no: Any) -> str:
    return f"{uri}:{line_no}" if uri is not None else f"(batch not recorded) line {line_no}"


def copy_of(dup: Row) -> str:
    """A duplicate record: where the dropped copy was and which line it repeated."""
    first = where(dup["first_source_uri"], dup["first_line_no"])
    return f"{where(dup['source_uri'], dup['line_no'])} dropped as a copy of {first}"


def render_text(trace: Trace) -> str:
    """Matches (for an email or a transaction ID), quarantined records, then each full
    trace."""
    out = [f"trace of {trace.searched}"]
    out += [f"note: {n}" for n in trace.notes]
    if trace.matches:
        out.append(f"\n{len(trace.matches)} event(s) found, most recent first:")
        for m in trace.matches:
            value = f" {m['value']} {m['currency']}" if m.get("value") is not None else ""
            out.append(f"  {m['ts']}  {m['event_name']:<20} {m['event_id']}{value}"
                       f"  (by {m['matched_by']})")  # fmt: skip
            outcomes = "; ".join(f"{d} {o}" for d, o in m["outcomes"].items())
            out.append(f"      {outcomes or 'no payload rows'}")
    if trace.quarantined:
        out.append(f"\n{len(trace.quarantined)} quarantined record(s) mention it:")
        out += [_quarantine(q) for q in trace.quarantined]
    for event in trace.events:
        out.append("")
        out += event_lines(event)
    return "\n".join(out)


def event_lines(event: EventTrace) -> list[str]:
    """One event's full trace."""
    out = [event.headline]
    out += [line("note", n) for n in event.notes]
    if event.source is not None:
        out.append(line("source", _source(event.source)))
        edge = event.source.get("edge_batch")
        if edge:
            out.append(line("edge batch", f"{edge['batch_id']} project {edge['project_id']} "
                        f"({edge['key_kind']} key) received {edge['received_at']}, "
                        f"{edge['events']} event(s), segment {edge['segment']}"))  # fmt: skip
    for replay in event.replays:
        moved = f"moved from quarantine to {replay['moved_to']} by replay {replay['replay_id']}"
        out.append(line("replayed", f"{moved} ({replay['rule']}) at {replay['replayed_at']}"))
    for dup in event.duplicates:
        out.append(line("duplicate", copy_of(dup)))
    for record in event.quarantine:
        out.append(_quarantine(record))
    for record in event.identify:
        traits = ", ".join(record["traits"] or []) or "no traits"
        person = f"{record['person_key_kind']} {record['person_key']}"
        out.append(line("identify", f"{where(record['source_uri'], record['line_no'])} "
                        f"{person}: {traits}"))  # fmt: skip
    if event.event is not None:
        fields = {k: v for k, v in event.event.items() if k not in SHOWN_ELSEWHERE}
        out.append(line("fields", "  ".join(f"{k}={compact(v)}" for k, v in fields.items())))
    if event.quality is not None:
        out.append(line("quality", quality_text(event.quality)))
    if event.identity is not None:
        out += _identity(event.identity)
    nowhere = event.routed_nowhere()
    if nowhere:
        out.append(line("routing", f"routed nowhere: {nowhere}"))
    for dest in event.destinations:
        out += _destination(dest)
    return out


def _source(source: Row) -> str:
    extras = [source["file_format"] or "", f"batch {source['batch_id']}",
              f"received {source['received_at']}"]  # fmt: skip
    if source.get("ingested_at"):
        extras.append(f"ingested {source['ingested_at']}")
    flags = [name for name in ("ts_inferred", "event_id_generated") if source.get(name)]
    text = f"{where(source['source_uri'], source['line_no'])} ({', '.join(e for e in extras if e)})"
    return text + (f" [{', '.join(flags)}]" if flags else "")


def _quarantine(record: Row) -> str:
    reasons = ", ".join(record["reasons"] or [record["reason"]])
    cut = "..." if record["raw_chars"] > len(record["raw"]) else ""
    return "\n".join([
        line("quarantined", f"{where(record['source_uri'], record['line_no'])}: {reasons}"),
        line("", f"detail: {record['detail']}"),
        line("", f"raw: {record['raw']}{cut}"),
    ])  # fmt: skip


def quality_text(quality: Row) -> str:
    parts = [f"score {quality['score']}"]
    if quality.get("score_stitched") is not None and quality["score_stitched"] != quality["score"]:
        parts[0] += f" ({quality['score_stitched']} with stitched keys)"
    if quality["components"]:
        parts.append(", ".join(f"{k} {v}" for k, v in quality["components"].items()))
    parts.append("warnings: " + (", ".join(quality["warnings"] or []) or "none"))
    return "; ".join(parts)


def _identity(identity: Row) -> list[str]:
    out = []
    if identity.get("person"):
        out.append(line("person", f"{identity['person']} (linked by {identity['linked_by']})"))
    if identity.get("identity_issues"):
        out.append(line("id issues", ", ".join(identity["identity_issues"])))
    stitched = identity.get("stitched")
    if isinstance(stitched, dict) and stitched:
        out.append(line("stitched", key_sources_text(stitched)))
    return out


def key_sources_text(sources: Any) -> str:
    """``email self, name <- event 0d88... at 2026-10-27 05:12:59+00``."""
    if not isinstance(sources, dict):
        return compact(sources)
    parts = []
    for group, src in sources.items():
        if isinstance(src, dict) and src.get("from") == "self":
            parts.append(f"{group} self")
        elif isinstance(src, dict):
            parts.append(f"{group} <- {src.get('from')} {src.get('id')} at {src.get('at')}")
        else:
            parts.append(f"{group} {compact(src)}")
    return ", ".join(parts)


def _destination(dest: DestinationTrace) -> list[str]:
    out = [f"\n  {dest.destination}: {dest.decision}"]
    if dest.match_keys is not None and dest.routed is not False:
        out.append(line("match keys", ", ".join(dest.match_keys) or "none", 4))
    if dest.routed and not dest.payloads:
        out.append(line("payload", "no row yet: run wh.build_payloads()", 4))
    for row in dest.payloads:
        out += _payload(row)
    return out


def _payload(row: PayloadTrace) -> list[str]:
    status = row.status
    if row.skip_reason:
        status += f": {row.skip_reason}" + (f" ({row.skip_detail})" if row.skip_detail else "")
    if row.duplicate_of:
        status += f" of {row.duplicate_of}"
    out = [line(row.request_kind, f"{status}; dedup key {row.dedup_key}; built {row.built_at}", 4)]
    if row.warnings:
        out.append(line("warnings", ", ".join(row.warnings), 6))
    if row.key_sources:
        out.append(line("keys", key_sources_text(row.key_sources), 6))
    if row.payload is not None:
        out.append(line("payload", compact(row.payload), 6))
    if not row.attempts and row.status == "ready":
        out.append(line("attempts", "none yet", 6))
    for attempt in row.attempts:
        out.append(line(f"attempt {attempt['attempt']}", attempt_text(attempt), 6))
    if row.reconciliation:
        out.append(line("reconciled", "; ".join(bucket_text(b) for b in row.reconciliation), 6))
    return out


def attempt_text(a: Row) -> str:
    target = a["mode"] if a["target"] in (None, "live") else f"{a['mode']} -> {a['target']}"
    parts = [f"{a['sent_at']} {target}: {a['outcome']}"]
    if a["http_status"] is not None:
        parts.append(f"HTTP {a['http_status']}")
    if a["latency_ms"] is not None:
        parts.append(f"{a['latency_ms']:.0f} ms")
    error = " ".join(str(a[k]) for k in ("error_class", "error_code") if a[k])
    if error:
        parts.append(error)
    if a["error_message"]:
        parts.append(repr(a["error_message"]))
    if a["platform_accepted"] is not None:
        parts.append(f"platform accepted {a['platform_accepted']} of {a['request_rows']}")
    if a["trace_id"]:
        parts.append(f"trace {a['trace_id']}")
    if a["retry_at"]:
        parts.append(f"retry at {a['retry_at']}")
    return ", ".join(parts)


def bucket_text(b: Row) -> str:
    target = b["mode"] if b["target"] == "live" else f"{b['mode']} -> {b['target']}"
    reason = f" ({b['reason']})" if b["reason"] and b["reason"] != b["bucket"] else ""
    return f"{target}: {b['bucket']}{reason}"
