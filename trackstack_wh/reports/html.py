"""The static HTML report: one self-contained file (inline CSS and SVG charts, no
scripts, no external requests) with the funnel, conversion funnel (with its per-step
delivery panel), quality and delivery sections (the delivery section with its freshness
table: durations in minutes, hours and days)."""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Sequence
from pathlib import Path

from trackstack_wh.reports.base import Report

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #212121; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #1565c0; padding-bottom: .2rem; }
h3 { font-size: 1rem; margin-top: 1.5rem; color: #424242; }
p.description, p.meta { color: #616161; } p.note { color: #ef6c00; }
figure.chart { margin: 1rem 0; overflow-x: auto; }
table { border-collapse: collapse; font-size: .8rem; margin: .3rem 0; }
th, td { border: 1px solid #e0e0e0; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f5f5f5; white-space: normal; vertical-align: bottom; }
td:first-child, th:first-child { text-align: left; }
nav a { margin-right: 1rem; }
"""


def render_html(reports: Sequence[Report], *, title: str, subtitle: str = "") -> str:
    """The whole document as a string."""
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    anchors = [f"section-{i}" for i in range(len(reports))]
    nav = "".join(
        f"<a href='#{a}'>{html.escape(r.title)}</a>" for a, r in zip(anchors, reports, strict=True)
    )
    sections = "\n".join(
        f"<div id='{a}'>{r.to_html()}</div>" for a, r in zip(anchors, reports, strict=True)
    )
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>"
        f"<p class='meta'>{html.escape(subtitle)} Generated {generated}.</p>"
        f"<nav>{nav}</nav>{sections}</body></html>\n"
    )


def write_html(
    path: str | os.PathLike[str], reports: Sequence[Report], *, title: str, subtitle: str = ""
) -> Path:
    """Write the document atomically (a temp file renamed into place); returns the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    partial.write_text(render_html(reports, title=title, subtitle=subtitle), encoding="utf-8")
    partial.replace(target)
    return target
