"""Derive identity hashes, per-destination dedup decisions and quality scores from events.

A refresh is one transaction over ``event_identity``, ``destination_dedup`` and
``event_quality``, recorded in ``quality_runs``; it is skipped when nothing it depends on
(events, phone region, windows, rules) changed. Incremental by default: events load in
``event_seq`` order, so the events above the last run's ``through_seq`` are the new ones;
only they get identity rows and scores, and only the transactions they carry are
re-judged for dedup (old copies included), the old events whose decision changed being
scored again. A full rebuild runs when settings changed, events were removed (an undone
load) or on request, and gives the same rows. The events whose dedup decision changed
are logged in ``quality_changes`` under the run's number (cause ``dedup``), with the
refunds of the transactions that gained a copy (cause ``refund``: their rows point at the
original conversion), so payload builds touch exactly their rows.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from trackstack_wh.config.stitching import StitchSettings
from trackstack_wh.contract import Family
from trackstack_wh.db import has_table, transaction
from trackstack_wh.dedup import (
    build_destination_dedup,
    changed_decisions,
    dedup_rules,
    update_destination_dedup,
)
from trackstack_wh.identity import RULES_VERSION, append_identity, build_identity
from trackstack_wh.identity.traits import hash_identify_records
from trackstack_wh.people import CHANGED_ROWS as PEOPLE_CHANGED
from trackstack_wh.people import DEVICE_PERSONS, EMAIL_UIDS, build_person_rows
from trackstack_wh.people import TOUCHED as PEOPLE_TOUCHED
from trackstack_wh.people_update import update_person_rows
from trackstack_wh.quality import (
    build_event_quality,
    rejudge_uniqueness,
    rescore_stitched,
    score_new_events,
)
from trackstack_wh.stitch import CHANGED as STITCH_CHANGED
from trackstack_wh.stitch import update_event_stitch

TABLES_VERSION = 7
"""Bumped when the derived tables' columns or content change (2: ``event_seq``; 3:
``event_seq`` in ``event_quality``; 4: the person graph, stitched keys and
``score_stitched``; 5: the person graph's count tables; 6: ``platformParams`` warnings in
``event_quality``; 7: generated sessions left out of the person graph), so the next
refresh rebuilds them even when the events did not change."""

KEY_FILTER_THRESHOLD = 10_000
"""Up to how many keys a join passes down to the scan of the other table as a filter
(DuckDB's default: 50): an increment looks up a few hundred persons, sessions and donor
rows in tables of millions, and with the filter the scan skips the parts holding none."""

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
);
alter table quality_runs add column if not exists through_seq bigint;
alter table quality_runs add column if not exists run_seq bigint;
alter table quality_runs add column if not exists mode varchar;
alter table quality_runs add column if not exists scored bigint;
create table if not exists quality_changes (
    run_seq bigint not null,
    event_id varchar not null,
    event_seq bigint not null
);
alter table quality_changes add column if not exists cause varchar;
"""
"""``through_seq``: the highest ``event_seq`` the run covered; ``run_seq``: its number;
``mode``: ``full`` or ``incremental``; ``scored``: events (re)scored. ``quality_changes``:
per run, the events whose dedup decision changed (payload builds rebuild their rows)."""


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
    """What a refresh did: whether it ran (``mode`` ``full``, ``incremental`` or
    ``skipped``), the events in the warehouse, how many it (re)scored, in how long."""

    ran: bool
    events: int
    seconds: float
    mode: str = "skipped"
    scored: int = 0


def _settings(
    phone_region: str | None,
    windows: Mapping[str, dt.timedelta | None],
    stitching: StitchSettings,
) -> str:
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
            "stitching": stitching.fingerprint(),
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class QualitySettings:
    """What the derived tables were built with: the default phone region, the
    per-destination dedup windows (None: no time limit) and the stitching settings."""

    phone_region: str | None
    windows: Mapping[str, dt.timedelta | None]
    stitching: StitchSettings = StitchSettings()


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
    stitching = recorded.get("stitching") or {}
    if "events" in stitching:
        stitching["events"] = tuple(stitching["events"])
    return QualitySettings(recorded["phone_region"], windows, StitchSettings(**stitching))


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
    stitching: StitchSettings | None = None,
    force: bool = False,
) -> QualityRun:
    """Bring the derived tables up to date when events or settings changed since the
    last run: incrementally when only new events arrived, else (or with ``force``) in
    full."""
    started = time.perf_counter()
    conn.execute(RUNS_DDL)
    stitching = stitching or StitchSettings()
    settings = _settings(phone_region, windows or {}, stitching)
    state = _current_state(conn)
    last = conn.execute(
        "select events, batches, last_ingested_us, settings, through_seq from quality_runs "
        "order by run_at desc limit 1"
    ).fetchall()
    if not force and last and tuple(last[0][:4]) == (*state, settings):
        return QualityRun(False, state[0], time.perf_counter() - started)
    through = None if force or not last else _increment_base(conn, last[0], settings)
    top = conn.execute("select max(event_seq) from events").fetchall()[0][0]
    with transaction(conn):
        run_seq = conn.execute("select coalesce(max(run_seq), 0) + 1 from quality_runs").fetchall()[
            0
        ][0]
        try:
            if through is None:
                mode, scored = "full", _rebuild(conn, phone_region, windows, stitching)
            else:
                mode = "incremental"
                conn.execute(f"set dynamic_or_filter_threshold = {KEY_FILTER_THRESHOLD}")
                try:
                    scored = _increment(conn, phone_region, windows, stitching, through)
                finally:
                    conn.execute("reset dynamic_or_filter_threshold")
            conn.execute(
                "insert into quality_changes select ?, event_id, event_seq, 'dedup' "
                "from quality_changed union all "
                "select ?, event_id, event_seq, 'refund' from quality_refunds union all "
                "select ?, event_id, event_seq, 'stitch' from quality_stitched",
                [run_seq, run_seq, run_seq],
            )
        finally:
            for table in _TEMP_TABLES:
                conn.execute(f"drop table if exists temp.{table}")
        seconds = time.perf_counter() - started
        conn.execute(
            "insert into quality_runs by name select now() as run_at, ? as events, "
            "? as batches, ? as last_ingested_us, ? as settings, ? as seconds, "
            "? as through_seq, ? as run_seq, ? as mode, ? as scored",
            [*state, settings, seconds, top, run_seq, mode, scored],
        )
    return QualityRun(True, state[0], time.perf_counter() - started, mode, scored)


_TEMP_TABLES = ("quality_new", "quality_new_identity", "quality_changed", "quality_changed_old",
                "quality_refunds", "quality_stitched", "dedup_before", PEOPLE_TOUCHED,
                PEOPLE_CHANGED, STITCH_CHANGED)  # fmt: skip
_DERIVED = ("event_identity", "destination_dedup", "event_quality", "match_key_patterns",
            "person_rows", EMAIL_UIDS, DEVICE_PERSONS, "identify_identity", "event_stitch",
            "stitch_flags")  # fmt: skip


def _increment_base(
    conn: duckdb.DuckDBPyConnection, last: tuple[object, ...], settings: str
) -> int | None:
    """The last run's ``through_seq`` when an increment from it gives the rows a full
    rebuild would: same settings, derived tables present, no event of it removed."""
    events, _, _, last_settings, through = last
    if last_settings != settings or through is None:
        return None
    if not all(has_table(conn, t) for t in _DERIVED):
        return None
    kept = conn.execute("select count(*) from events where event_seq <= ?", [through]).fetchall()[
        0
    ][0]
    return int(str(through)) if kept == events else None


def _rebuild(
    conn: duckdb.DuckDBPyConnection,
    phone_region: str | None,
    windows: Mapping[str, dt.timedelta | None] | None,
    stitching: StitchSettings,
) -> int:
    """Every derived table from all events; the dedup decisions that changed against
    the previous ones go to temp table ``quality_changed``, the events whose stitched
    keys changed to ``quality_stitched``."""
    had_dedup = has_table(conn, "destination_dedup")
    had_stitch = has_table(conn, "event_stitch")
    if had_dedup:
        conn.execute("create or replace temp table dedup_before as from destination_dedup")
    build_identity(conn, phone_region)
    hash_identify_records(conn, phone_region, full=True)
    build_person_rows(conn, enabled=stitching.enabled)
    update_event_stitch(conn, stitching, full=True)
    conn.execute(
        "create or replace temp table quality_stitched as "
        f"select event_id, event_seq from {STITCH_CHANGED} where $had",
        {"had": had_stitch},
    )
    build_destination_dedup(conn, windows)
    build_event_quality(conn)
    if had_dedup:
        changed_decisions(conn, "dedup_before", "quality_changed")
        conn.execute(
            f"create or replace temp table quality_refunds as {REFUNDS_OF}",
            {"refund": Family.REFUND.value},
        )
    else:
        for table in ("quality_changed", "quality_refunds"):
            conn.execute(
                f"create or replace temp table {table} (event_id varchar, event_seq bigint)"
            )
    return int(conn.execute("select count(*) from events").fetchall()[0][0])


def _increment(
    conn: duckdb.DuckDBPyConnection,
    phone_region: str | None,
    windows: Mapping[str, dt.timedelta | None] | None,
    stitching: StitchSettings,
    through: int,
) -> int:
    """The events above ``through``: identity rows, the persons and stitched keys of the
    people they (or new identify records) touch, the dedup decisions of the
    transactions they carry, and the scores of every event whose inputs changed."""
    conn.execute(
        "create or replace temp table quality_new as from events where event_seq > ?", [through]
    )
    append_identity(conn, phone_region, "quality_new")
    hash_identify_records(conn, phone_region, full=False)
    if stitching.enabled:
        update_person_rows(conn, through)
    else:
        conn.execute(
            f"create or replace temp table {PEOPLE_TOUCHED} (person varchar, since timestamptz)"
        )
        conn.execute(
            f"create or replace temp table {PEOPLE_CHANGED} (row_kind varchar, row_id varchar, "
            "row_seq bigint, ts timestamptz, old_person varchar, new_person varchar)"
        )
    update_event_stitch(conn, stitching, full=False, through=through)
    conn.execute(
        "create or replace temp table quality_stitched as "
        f"select event_id, event_seq from {STITCH_CHANGED} where event_seq <= ?",
        [through],
    )
    update_destination_dedup(conn, "quality_new", "quality_changed", windows)
    conn.execute(
        "create or replace temp table quality_new_identity as from event_identity "
        "where event_seq > ?",
        [through],
    )
    score_new_events(conn, "quality_new", "quality_new_identity")
    conn.execute(
        "create or replace temp table quality_changed_old as from quality_changed "
        "where event_seq <= ?",
        [through],
    )
    rejudge_uniqueness(conn, "quality_changed_old")
    rescore_stitched(conn, "quality_stitched")
    scored = conn.execute(
        "select (select count(*) from quality_new) + (select count(*) from quality_changed_old)"
        " + (select count(*) from quality_stitched)"
    ).fetchall()[0][0]
    conn.execute(
        f"create or replace temp table quality_refunds as {REFUNDS_OF}"
        " and e.event_seq <= $through"
        " and e.transaction_id in (select transaction_id from quality_new)",
        {"refund": Family.REFUND.value, "through": through},
    )
    return int(scored)


REFUNDS_OF = """
select e.event_id, e.event_seq from events e join canonical_events c using (event_name)
where c.family = $refund and e.transaction_id is not null"""
"""Refund events: their payload rows point at their transaction's original conversion
(Google adjustments), so a new copy of the transaction changes them."""
