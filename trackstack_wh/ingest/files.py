"""Loading many files in one call: each file all or nothing, one that cannot be read
(status ``unreadable``) or fails to load for any other reason (``failed``, undone) is
reported while the others still load, every outcome logged."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import duckdb

from trackstack_wh.config.ingest import IngestSettings
from trackstack_wh.db import MEMORY_LIMIT_ENV
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
    limits: IngestSettings | None = None,
) -> FileReport:
    """One file's report: loaded (or already loaded), else ``unreadable`` or ``failed``
    with why (a failed load is undone by `ingest_file`)."""
    try:
        report = ingest_file(conn, path, source=source, received_at=received_at, limits=limits)
    except UnreadableFileError as exc:
        report = FileReport(str(path), None, "unreadable", error=exc.problem)
    except duckdb.OutOfMemoryException as exc:
        log.debug("loading %s ran out of memory", path, exc_info=True)
        report = FileReport(str(path), None, "failed", error=_out_of_memory(exc))
    except Exception as exc:  # any failure is this file's alone: the next file still loads
        log.debug("loading %s failed", path, exc_info=True)
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        report = FileReport(
            str(path), None, "failed", error=f"{type(exc).__name__}: {first_line}".rstrip(": ")
        )
    level = logging.WARNING if report.failed else logging.INFO
    log.log(level, "%s", report.summary())
    return report


def _out_of_memory(exc: duckdb.OutOfMemoryException) -> str:
    limit = os.environ.get(MEMORY_LIMIT_ENV) or "DuckDB's default"
    return (
        f"DuckDB ran out of memory (limit: {limit}); the load was undone. Raise "
        f"${MEMORY_LIMIT_ENV} or split the file ({str(exc).strip().splitlines()[0]})"
    )


def load_files(
    conn: duckdb.DuckDBPyConnection,
    paths: Iterable[PathLike],
    *,
    received_at: dt.datetime | None = None,
    limits: IngestSettings | None = None,
) -> list[FileReport]:
    """Every file of ``paths`` (directories expanded)."""
    return [load_one(conn, p, received_at=received_at, limits=limits) for p in expand_paths(paths)]


def load_segments(
    conn: duckdb.DuckDBPyConnection, root: Path, limits: IngestSettings | None = None
) -> list[FileReport]:
    """The sink's closed landing segments under ``root``, each exactly once: recorded in
    the same transaction as its rows, then moved to ``loaded/`` (an unreadable one stays)."""
    reports = []
    for segment in closed_segments(root):
        report = load_one(conn, segment, source=str(loaded_path(segment)), limits=limits)
        if not report.failed:
            mark_loaded(segment)
        reports.append(report)
    return reports
