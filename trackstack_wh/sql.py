"""Loads SQL files from the project's sql/ folder (shipped inside the wheel as _sql/)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

from trackstack_wh.errors import SqlFileNotFound


def sql_root() -> Path:
    """sql/ of the repo (editable install), _sql/ of the wheel, or $TRACKSTACK_SQL_DIR."""
    override = os.environ.get("TRACKSTACK_SQL_DIR")
    if override:
        return Path(override)
    packaged = Path(__file__).parent / "_sql"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "sql"


@cache
def load(name: str) -> str:
    """Text of ``sql/<name>.sql``, e.g. ``load("ddl/001_ingest")``."""
    path = sql_root() / f"{name}.sql"
    if not path.is_file():
        raise SqlFileNotFound(f"{path} not found; is the package installed from a full checkout?")
    return path.read_text()


def lit(text: str) -> str:
    """A SQL string literal for a constant of this package (never for input values)."""
    return "'" + text.replace("'", "''") + "'"


def in_range(column: str, lo: str, hi: str, bound: str = "{}") -> str:
    """SQL: ``lo <= column < hi`` for bounds ``lo`` / ``hi`` (parameters or macro
    arguments), each read through ``bound`` (e.g. ``"to_timestamp({})"``); a NULL bound
    is open, so with both NULL the filter folds away."""
    low, high = bound.format(lo), bound.format(hi)
    return f"(({lo} is null or {column} >= {low}) and ({hi} is null or {column} < {high}))"


def ddl_files() -> list[str]:
    """Names of the DDL files, in the order they are applied."""
    return sorted(f"ddl/{p.stem}" for p in (sql_root() / "ddl").glob("*.sql"))
