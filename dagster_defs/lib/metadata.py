"""Asset metadata from polars frames: counts and small previews for the UI."""

import datetime as dt
import json
from typing import Any

import dagster as dg
import polars as pl

from trackstack_wh.timewindow import TimeWindow

PREVIEW_ROWS = 5
CELL_CHARS = 60


def _cell(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


def markdown_table(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> dg.MetadataValue:
    """The first ``rows`` rows as a markdown table."""
    head = frame.head(rows)
    lines = ["| " + " | ".join(head.columns) + " |", "|" + "---|" * len(head.columns)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in head.iter_rows()]
    if frame.height > rows:
        lines.append(f"\n({frame.height - rows:,} more rows)")
    return dg.MetadataValue.md("\n".join(lines))


def json_value(value: Any) -> dg.MetadataValue:
    return dg.MetadataValue.json(json.loads(json.dumps(value, default=str)))


def partition_window(context: dg.AssetExecutionContext | dg.OpExecutionContext) -> TimeWindow:
    """The run's partition (or partition range) as a ``TimeWindow``."""
    window = context.partition_time_window
    return TimeWindow(window.start.astimezone(dt.UTC), window.end.astimezone(dt.UTC))


def run_window(context: dg.AssetExecutionContext) -> TimeWindow | None:
    """The run's partition window, or None for a run without partitions (an asset check
    run on its own checks every day)."""
    if context.has_partition_key or context.has_partition_key_range:
        return partition_window(context)
    return None


def window_metadata(window: TimeWindow) -> dict[str, dg.MetadataValue]:
    days = window.dates()
    label = days[0].isoformat() if len(days) == 1 else f"{days[0]} .. {days[-1]}"
    return {"days": dg.MetadataValue.text(label), "day_count": dg.MetadataValue.int(len(days))}
