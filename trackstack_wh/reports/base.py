"""What every report is: named polars tables, Altair charts over them, and renderings
for notebooks (``_repr_html_``), scripts (text, CSV, JSON) and the static HTML report."""

from __future__ import annotations

import datetime as dt
import html
import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from trackstack_wh.errors import NotFoundError

if TYPE_CHECKING:
    import altair as alt

ChartBuilder = Callable[[], "alt.TopLevelMixin"]
PREVIEW_ROWS = 20


@dataclass
class Report:
    """A titled set of tables; the first table is ``.df``."""

    title: str
    description: str
    tables: dict[str, pl.DataFrame]
    notes: list[str] = field(default_factory=list)

    @property
    def df(self) -> pl.DataFrame:
        """The main table."""
        return next(iter(self.tables.values()))

    def table(self, name: str) -> pl.DataFrame:
        """One table by name (see ``.tables`` for the names)."""
        if name not in self.tables:
            raise NotFoundError(
                f"no table {name!r} in {self.title}; choose from {list(self.tables)}"
            )
        return self.tables[name]

    def display_tables(self) -> dict[str, pl.DataFrame]:
        """The tables as HTML and text show them (subclasses may put durations in human
        units); CSV and JSON keep ``.tables`` as they are."""
        return self.tables

    def chart_builders(self) -> Mapping[str, ChartBuilder]:
        """Chart name -> a function making it; subclasses list theirs, main chart first."""
        return {}

    def chart(self, name: str | None = None) -> alt.TopLevelMixin:
        """An Altair chart (default: the main one); ``chart_names()`` lists the others."""
        builders = self.chart_builders()
        if not builders:
            raise NotFoundError(f"{self.title} has no charts")
        key = name or next(iter(builders))
        if key not in builders:
            raise NotFoundError(f"no chart {key!r} in {self.title}; choose from {list(builders)}")
        return builders[key]()

    def chart_names(self) -> list[str]:
        return list(self.chart_builders())

    def svgs(self) -> dict[str, str]:
        """Every chart rendered to SVG offline (vl-convert); empty tables make no chart."""
        from trackstack_wh.reports.charts import to_svg

        if self.df.is_empty():
            return {}
        return {name: to_svg(build()) for name, build in self.chart_builders().items()}

    def to_html(self, *, heading_level: int = 2, rows: int = PREVIEW_ROWS) -> str:
        """A self-contained HTML section: title, description, charts as inline SVG, tables."""
        h = f"h{heading_level}"
        parts = [f"<section class='report'><{h}>{html.escape(self.title)}</{h}>"]
        parts.append(f"<p class='description'>{html.escape(self.description)}</p>")
        parts += [f"<p class='note'>{html.escape(n)}</p>" for n in self.notes]
        for name, svg in self.svgs().items():
            parts.append(f"<figure class='chart' data-chart='{html.escape(name)}'>{svg}</figure>")
        if self.df.is_empty():
            parts.append("<p class='empty'>No data yet.</p>")
        for name, frame in self.display_tables().items():
            parts.append(f"<h{heading_level + 1}>{html.escape(name)}</h{heading_level + 1}>")
            parts.append(frame_to_html(frame, rows))
        parts.append("</section>")
        return "\n".join(parts)

    def _repr_html_(self) -> str:
        return self.to_html(heading_level=3)

    def to_text(self, table: str | None = None) -> str:
        """Tables as aligned text (for a terminal)."""
        chosen = self.display_tables()
        if table:
            self.table(table)  # an unknown name raises, listing the tables
            chosen = {table: chosen[table]}
        with pl.Config(
            tbl_rows=200,
            tbl_cols=30,
            tbl_hide_dataframe_shape=True,
            tbl_width_chars=200,
            fmt_str_lengths=60,
        ):
            blocks = [f"{self.title}\n{self.description}"] + [
                f"\n{name}:\n{frame}" for name, frame in chosen.items()
            ]
        return "\n".join(blocks + self.notes)

    def to_csv(self, table: str | None = None) -> str:
        """One table (default the main one) as CSV."""
        frame = self.table(table) if table else self.df
        buffer = io.StringIO()
        frame.write_csv(buffer)
        return buffer.getvalue()

    def to_json(self) -> str:
        """Every table as a list of records, keyed by table name."""
        doc: dict[str, Any] = {
            "title": self.title,
            "tables": {name: frame.to_dicts() for name, frame in self.tables.items()},
        }
        return orjson.dumps(doc, default=_json_default, option=orjson.OPT_INDENT_2).decode()

    def __repr__(self) -> str:
        sizes = ", ".join(f"{n}: {f.height} rows" for n, f in self.tables.items())
        return f"<{self.title}: {sizes}>"


def _json_default(value: object) -> object:
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    raise TypeError(f"cannot serialize {type(value).__name__}")


def frame_to_html(frame: pl.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    """A plain HTML table of the first ``rows`` rows (values escaped), no external CSS."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>"
        for row in frame.head(rows).iter_rows()
    )
    more = (
        f"<p class='more'>{rows} of {frame.height:,} rows shown.</p>" if frame.height > rows else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
