"""The sink's counters, rendered in the Prometheus text exposition format."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from trackstack_wh.sink.landing import SegmentWriter

log = logging.getLogger("trackstack_wh.sink.app")


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
    failures_logged: set[tuple[str, str]] = field(default_factory=set)
    """Unexpected exceptions already logged, by type and place."""

    def internal_error(self, exc: Exception, request: str) -> None:
        """Count an unexpected exception answered with a 500; log it in one line, once per
        exception type and place (no traceback: a bad request may repeat it at will)."""
        self.requests["500"] += 1
        self.rejections["internal"] += 1
        frame = exc.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        place = "?"
        if frame is not None:
            place = f"{Path(frame.tb_frame.f_code.co_filename).name}:{frame.tb_lineno}"
        kind = type(exc).__name__
        if (kind, place) not in self.failures_logged:
            self.failures_logged.add((kind, place))
            log.error(
                "%s at %s answering %s with a 500 (repeats are only counted, in "
                'ts_sink_rejected_requests_total{reason="internal"})',
                kind,
                place,
                request,
            )

    def render(self, writer: SegmentWriter) -> str:
        """The exposition text, with landing gauges read now."""
        pending, pending_bytes, lag = writer.pending()
        labelled = [
            (
                "ts_sink_requests_total",
                "HTTP requests answered, by status.",
                "status",
                self.requests,
            ),
            (
                "ts_sink_events_accepted_total",
                "Events acknowledged (202) and on disk, by project.",
                "project",
                self.events_accepted,
            ),
            (
                "ts_sink_rejected_requests_total",
                "Requests refused, by reason.",
                "reason",
                self.rejections,
            ),
        ]
        plain = [
            ("ts_sink_landing_bytes_total", "counter", "Bytes written to landing segments.",
             writer.bytes_written),
            ("ts_sink_landing_commits_total", "counter",
             "Group commits (one write and one fdatasync each).", writer.commits),
            ("ts_sink_landing_commit_seconds_total", "counter",
             "Time spent writing and syncing landing segments.", writer.commit_seconds),
            ("ts_sink_landing_segments_closed_total", "counter",
             "Segments closed (ready for ingest).", writer.segments_closed),
            ("ts_sink_landing_open_segment_bytes", "gauge",
             "Size of the segment being written.", writer.open_bytes),
            ("ts_sink_landing_open_segment_age_seconds", "gauge",
             "Age of the segment being written (0 when none is open).", writer.open_age()),
            ("ts_sink_landing_pending_segments", "gauge",
             "Closed segments not yet picked up by ingest.", pending),
            ("ts_sink_landing_pending_bytes", "gauge",
             "Bytes in closed segments not yet picked up.", pending_bytes),
            ("ts_sink_landing_lag_seconds", "gauge",
             "Age of the oldest closed segment not yet picked up (0 when none).", lag),
        ]  # fmt: skip
        out: list[str] = []
        for name, help_text, label, counts in labelled:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            out += [f'{name}{{{label}="{_label(k)}"}} {v:g}' for k, v in sorted(counts.items())]
        for name, kind, help_text, value in plain:
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", f"{name} {value:g}"]
        return "\n".join(out) + "\n"
