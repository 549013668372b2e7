"""Loading many files in one call: each file all or nothing, an unreadable one reported
(status ``unreadable``) while the others still load, every outcome logged."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

from trackstack_wh.errors import UnreadableFileError
from trackstack_wh.ingest.pipeline import ingest_file
from trackstack_wh.ingest.readers import is_event_file
from trackstack_wh.ingest.report import FileReport
from trackstack_wh.sink.segments import closed_segments, loaded_path, mark_loaded

log = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]


def expand_paths(paths: Iterable[PathLike]) -> list[Path]:
    """Files as given; a directory contributes its supported event files (recursively)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(x for x in p.rglob("*") if x.is_file() and is_event_file(x)))
        else:
            out.append(p)
    return out


def load_one(
    conn: duckdb.DuckDBPyConnection,
    path: Path,
    *,
    source: str | None = None,
    received_at: dt.datetime | None = None,
) -> FileReport:
    """One file's report: loaded (or already loaded), else ``unreadable`` with why."""
    try:
        report = ingest_file(conn, path, source=source, received_at=received_at)
    except UnreadableFileError as exc:
        report = FileReport(str(path), None, "unreadable", error=exc.problem)
    level = logging.WARNING if report.status == "unreadable" else logging.INFO
    log.log(level, "%s", report.summary())
    return report


def load_files(
    conn: duckdb.DuckDBPyConnection,
    paths: Iterable[PathLike],
    *,
    received_at: dt.datetime | None = None,
) -> list[FileReport]:
    """Every file of ``paths`` (directories expanded)."""
    return [load_one(conn, p, received_at=received_at) for p in expand_paths(paths)]


def load_segments(conn: duckdb.DuckDBPyConnection, root: Path) -> list[FileReport]:
    """The sink's closed landing segments under ``root``, each exactly once: recorded in
    the same transaction as its rows, then moved to ``loaded/`` (an unreadable one stays)."""
    reports = []
    for segment in closed_segments(root):
        report = load_one(conn, segment, source=str(loaded_path(segment)))
        if report.status != "unreadable":
            mark_loaded(segment)
        reports.append(report)
    return reports
