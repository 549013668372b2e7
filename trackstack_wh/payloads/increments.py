"""What a payload build has to look at: the events loaded since the destination's last
build, and the old events whose dedup decision changed since (``quality_changes``).

``payload_builds`` records, per destination, the settings the rows were built under, the
highest ``event_seq`` a whole-warehouse build covered and the quality run it had seen.
While the settings stay the same, every event up to that ``event_seq`` has its rows, so a
build only reads the events above it plus the old ones whose decision changed (their rows
are deleted first and built again): its cost follows the new events, not the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import duckdb

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.db import has_table
from trackstack_wh.destinations.routing import create_temp_routing

BUILDS_DDL = """
create table if not exists payload_builds (
    destination varchar primary key,
    settings_hash varchar not null,
    through_seq bigint,
    quality_run bigint not null,
    built_at timestamptz not null
)
"""

CHANGED = "payload_changed"
"""Temp table of the events whose rows a build deletes and builds again."""


@dataclass(frozen=True)
class LastBuild:
    """A destination's last whole-warehouse build."""

    settings_hash: str
    through_seq: int | None
    quality_run: int


def last_build(conn: duckdb.DuckDBPyConnection, destination: str) -> LastBuild | None:
    conn.execute(BUILDS_DDL)
    found = conn.execute(
        "select settings_hash, through_seq, quality_run from payload_builds where destination = ?",
        [destination],
    ).fetchall()
    return LastBuild(*found[0]) if found else None


def build_marks(conn: duckdb.DuckDBPyConnection) -> tuple[int | None, int]:
    """The highest ``event_seq`` and the latest quality run, taken before a build."""
    top = conn.execute("select max(event_seq) from events").fetchall()[0][0]
    run = 0
    if has_table(conn, "quality_runs"):
        run = conn.execute("select coalesce(max(run_seq), 0) from quality_runs").fetchall()[0][0]
    return top, int(run)


CHANGED_EVENTS = "payload_changed_events"
CHANGED_IDENTITY = "payload_changed_identity"
ROUTED_CHANGED = "routed_changed_in"
"""Temp copies of the `CHANGED` events' rows and identity rows, and the temp macro that
routes them: each destination's pass over them reads a few rows, not the row groups of
the whole warehouse they are scattered over."""


class ChangedEvents:
    """The events whose rows a build deletes and builds again, gathered once per quality
    run a destination last saw (every destination usually saw the same)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection, config: WorkspaceConfig) -> None:
        self.conn = conn
        self.config = config
        self.since: int | None = None
        self.count = 0

    def collect(self, since_run: int) -> int:
        """Temp table `CHANGED` (``event_id, event_seq``): events whose dedup decision
        changed after quality run ``since_run``, with their rows copied aside; returns
        how many."""
        if since_run == self.since:
            return self.count
        conn = self.conn
        if has_table(conn, "quality_changes"):
            conn.execute(
                f"create or replace temp table {CHANGED} as select distinct event_id, event_seq "
                "from quality_changes where run_seq > ? and event_seq in "
                "(select event_seq from events)",
                [since_run],
            )
        else:
            conn.execute(
                f"create or replace temp table {CHANGED} (event_id varchar, event_seq bigint)"
            )
        for copy, source in ((CHANGED_EVENTS, "events"), (CHANGED_IDENTITY, "event_identity")):
            conn.execute(
                f"create or replace temp table {copy} as from {source} "
                f"where event_seq in (select event_seq from {CHANGED})"
            )
        create_temp_routing(conn, self.config, ROUTED_CHANGED, CHANGED_EVENTS)
        self.since = since_run
        self.count = int(conn.execute(f"select count(*) from {CHANGED}").fetchall()[0][0])
        return self.count

    def drop(self) -> None:
        for table in (CHANGED, CHANGED_EVENTS, CHANGED_IDENTITY):
            self.conn.execute(f"drop table if exists temp.{table}")
        self.conn.execute(f"drop macro table if exists temp.{ROUTED_CHANGED}")


def delete_changed(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    where: str = "true",
    params: Mapping[str, object] | None = None,
) -> int:
    """Delete the rows of the `CHANGED` events from a payload table (``where``, with
    ``params``, narrows)."""
    return int(
        conn.execute(
            f"delete from {table} where event_seq in (select event_seq from {CHANGED}) "
            f"and event_id in (select event_id from {CHANGED}) and {where}",
            params,
        ).fetchall()[0][0]
    )


def lowest_changed(conn: duckdb.DuckDBPyConnection, through: int) -> int | None:
    """The lowest ``event_seq`` of the `CHANGED` events at or below ``through`` (None:
    none); they are built in one pass that reads only them."""
    found = conn.execute(
        f"select min(event_seq) from {CHANGED} where event_seq <= ?", [through]
    ).fetchall()[0][0]
    return None if found is None else int(found)


def record_build(
    conn: duckdb.DuckDBPyConnection,
    destination: str,
    settings_hash: str,
    through_seq: int | None,
    quality_run: int,
) -> None:
    conn.execute(
        "insert or replace into payload_builds values (?, ?, ?, ?, now())",
        [destination, settings_hash, through_seq, quality_run],
    )


def forget_build(conn: duckdb.DuckDBPyConnection, destination: str) -> None:
    """A build of some days under other settings: the next whole build starts over."""
    conn.execute("delete from payload_builds where destination = ?", [destination])


def prune_changes(conn: duckdb.DuckDBPyConnection, destinations: list[str]) -> None:
    """Drop the logged changes every one of ``destinations`` has built."""
    if not destinations or not has_table(conn, "quality_changes"):
        return
    seen = conn.execute(
        "select count(*), min(quality_run) from payload_builds "
        "where destination in (select unnest(?::varchar[]))",
        [destinations],
    ).fetchall()[0]
    if seen[0] == len(destinations):
        conn.execute("delete from quality_changes where run_seq <= ?", [seen[1]])
