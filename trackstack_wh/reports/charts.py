"""Altair chart helpers and offline SVG rendering (vl-convert: no browser, no network)."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    import altair as alt

WIDTH = 560
HEIGHT = 220
OUTCOME_COLORS = {
    "delivered": "#2e7d32",
    "rejected": "#c62828",
    "failed": "#ef6c00",
    "skipped": "#9e9e9e",
    "duplicate": "#bdbdbd",
    "in_flight": "#1565c0",
    "never_attempted": "#6a1b9a",
}


def altair() -> ModuleType:
    """Altair, imported on first use (it costs ~0.5 s), with row limits lifted: reports
    aggregate before charting, so the frames are small."""
    import altair as alt

    alt.data_transformers.disable_max_rows()
    return alt


def chart_of(frame: pl.DataFrame) -> alt.Chart:
    """An Altair chart over a polars frame (dates as ISO strings, so Vega parses them)."""
    lib = altair()
    temporal = [c for c, t in frame.schema.items() if t in (pl.Date, pl.Datetime)]
    plain = frame.with_columns(pl.col(c).cast(pl.String) for c in temporal)
    chart: alt.Chart = lib.Chart(lib.Data(values=plain.to_dicts()))
    return chart


def outcome_scale() -> alt.Scale:
    lib = altair()
    scale: alt.Scale = lib.Scale(domain=list(OUTCOME_COLORS), range=list(OUTCOME_COLORS.values()))
    return scale


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart as an SVG string, rendered in-process; external URLs are refused."""
    import vl_convert

    return vl_convert.vegalite_to_svg(chart.to_json(), allowed_base_urls=[])
