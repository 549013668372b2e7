"""Derive identity hashes, per-destination dedup decisions and quality scores from events.

One transaction rebuilds ``event_identity``, ``destination_dedup`` and ``event_quality``
set-based over the whole ``events`` table, and records the run in ``quality_runs``; a
run is skipped when nothing it depends on (events, phone region, windows, rules) changed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from trackstack_wh.db import has_table, transaction
from trackstack_wh.dedup import build_destination_dedup, dedup_rules
from trackstack_wh.identity import RULES_VERSION, build_identity
from trackstack_wh.quality import build_event_quality

TABLES_VERSION = 2
"""Bumped when the derived tables' columns change (2: ``event_seq``), so the next
refresh rebuilds them even when the events did not change."""

PHONE_REGION_ENV = "TRACKSTACK_PHONE_REGION"
DEFAULT_PHONE_REGION = "US"

RUNS_DDL = """
create table if not exists quality_runs (
    run_at timestamptz not null,
    events bigint not null,
    batches bigint not null,
    last_ingested_us bigint,
    settings varchar not null,
    seconds double not null
)
"""


def phone_region_from_env(default: str | None = DEFAULT_PHONE_REGION) -> str | None:
    """$TRACKSTACK_PHONE_REGION (ISO country; empty or ``none`` for no default), else
    ``default`` (the config's ``workspace.phone_region``, US unless set)."""
    value = os.environ.get(PHONE_REGION_ENV)
    if value is None:
        return default
    value = value.strip().upper()
    return None if value in ("", "NONE") else value


@dataclass(frozen=True)
class QualityRun:
    """What a refresh did: whether it ran, over how many events, in how long."""

    ran: bool
    events: int
    seconds: float


def _settings(phone_region: str | None, windows: Mapping[str, dt.timedelta | None]) -> str:
    rules = {
        r.destination: None if r.window is None else r.window.total_seconds()
        for r in dedup_rules(windows)
    }
    return json.dumps(
        {
            "phone_region": phone_region,
            "windows": rules,
            "rules": RULES_VERSION,
            "tables": TABLES_VERSION,
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class QualitySettings:
    """What the derived tables were built with: the default phone region and the
    per-destination dedup windows (None: no time limit)."""

    phone_region: str | None
    windows: Mapping[str, dt.timedelta | None]


def recorded_settings(conn: duckdb.DuckDBPyConnection) -> QualitySettings | None:
    """The settings of the last refresh recorded in this warehouse (None: never run)."""
    if not has_table(conn, "quality_runs"):
        return None
    last = conn.execute("select settings from quality_runs order by run_at desc limit 1").fetchall()
    if not last:
        return None
    recorded = json.loads(last[0][0])
    windows = {
        name: None if seconds is None else dt.timedelta(seconds=seconds)
        for name, seconds in recorded["windows"].items()
    }
    return QualitySettings(recorded["phone_region"], windows)


def _current_state(conn: duckdb.DuckDBPyConnection) -> tuple[int, int, int | None]:
    row = conn.execute(
        "select (select count(*) from events), (select count(*) from ingest_batches), "
        "(select epoch_us(max(ingested_at)) from ingest_batches)"
    ).fetchall()[0]
    return int(row[0]), int(row[1]), row[2]


def staleness(conn: duckdb.DuckDBPyConnection) -> str | None:
    """Why the derived tables cannot be read as current (None: they can), without writing:
    never built, or built before the events last changed."""
    if not has_table(conn, "quality_runs") or not has_table(conn, "event_quality"):
        return "no quality scores yet"
    last = conn.execute(
        "select events, batches, last_ingested_us, settings from quality_runs "
        "order by run_at desc limit 1"
    ).fetchall()
    if not last:
        return "no quality scores yet"
    events, batches, last_us, settings = last[0]
    built_with = json.loads(settings)
    if (built_with["tables"], built_with["rules"]) != (TABLES_VERSION, RULES_VERSION):
        return "quality tables were built by an older version"
    if (events, batches, last_us) != _current_state(conn):
        return "events were loaded (or removed) since quality was last refreshed"
    return None


def refresh_quality(
    conn: duckdb.DuckDBPyConnection,
    *,
    phone_region: str | None,
    windows: Mapping[str, dt.timedelta | None] | None = None,
    force: bool = False,
) -> QualityRun:
    """Rebuild the derived tables when events or settings changed since the last run."""
    started = time.perf_counter()
    conn.execute(RUNS_DDL)
    settings = _settings(phone_region, windows or {})
    state = _current_state(conn)
    last = conn.execute(
        "select events, batches, last_ingested_us, settings from quality_runs "
        "order by run_at desc limit 1"
    ).fetchall()
    if not force and last and tuple(last[0]) == (*state, settings):
        return QualityRun(False, state[0], time.perf_counter() - started)
    with transaction(conn):
        build_identity(conn, phone_region)
        build_destination_dedup(conn, windows)
        build_event_quality(conn)
        conn.execute(
            "insert into quality_runs values (now(), ?, ?, ?, ?, ?)",
            [*state, settings, time.perf_counter() - started],
        )
    return QualityRun(True, state[0], time.perf_counter() - started)
