"""The sink's counters, rendered in the Prometheus text exposition format."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from trackstack_wh.sink.landing import SegmentWriter


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class SinkMetrics:
    """Request, event and rejection counts since the sink started."""

    requests: Counter[str] = field(default_factory=Counter)
    """By HTTP status."""
    events_accepted: Counter[str] = field(default_factory=Counter)
    """By project."""
    rejections: Counter[str] = field(default_factory=Counter)
    """By reason code."""

    def render(self, writer: SegmentWriter) -> str:
        """The exposition text, with landing gauges read now."""
        pending, pending_bytes, lag = writer.pending()
        out: list[str] = []

        def metric(name: str, kind: str, help_text: str, rows: list[tuple[str, float]]) -> None:
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(f"{name}{labels} {value:g}" for labels, value in rows)

        def labelled(label: str, counts: Counter[str]) -> list[tuple[str, float]]:
            return [(f'{{{label}="{_label(k)}"}}', v) for k, v in sorted(counts.items())]

        metric(
            "ts_sink_requests_total",
            "counter",
            "HTTP requests answered, by status.",
            labelled("status", self.requests),
        )
        metric(
            "ts_sink_events_accepted_total",
            "counter",
            "Events acknowledged (202) and on disk, by project.",
            labelled("project", self.events_accepted),
        )
        metric(
            "ts_sink_rejected_requests_total",
            "counter",
            "Requests refused, by reason.",
            labelled("reason", self.rejections),
        )
        metric(
            "ts_sink_landing_bytes_total",
            "counter",
            "Bytes written to landing segments.",
            [("", writer.bytes_written)],
        )
        metric(
            "ts_sink_landing_commits_total",
            "counter",
            "Group commits (one write and one fdatasync each).",
            [("", writer.commits)],
        )
        metric(
            "ts_sink_landing_commit_seconds_total",
            "counter",
            "Time spent writing and syncing landing segments.",
            [("", writer.commit_seconds)],
        )
        metric(
            "ts_sink_landing_segments_closed_total",
            "counter",
            "Segments closed (ready for ingest).",
            [("", writer.segments_closed)],
        )
        metric(
            "ts_sink_landing_open_segment_bytes",
            "gauge",
            "Size of the segment being written.",
            [("", writer.open_bytes)],
        )
        metric(
            "ts_sink_landing_pending_segments",
            "gauge",
            "Closed segments not yet picked up by ingest.",
            [("", pending)],
        )
        metric(
            "ts_sink_landing_pending_bytes",
            "gauge",
            "Bytes in closed segments not yet picked up.",
            [("", pending_bytes)],
        )
        metric(
            "ts_sink_landing_lag_seconds",
            "gauge",
            "Age of the oldest closed segment not yet picked up (0 when none).",
            [("", lag)],
        )
        return "\n".join(out) + "\n"
