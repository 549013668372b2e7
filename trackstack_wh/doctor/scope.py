"""What every doctor check is given: the connection, the config, the window of events
the data checks read, the wall clock, the sink's landing directory."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from trackstack_wh.config import Destination, WorkspaceConfig
from trackstack_wh.db import has_table

if TYPE_CHECKING:  # --online only: the credential check pulls in httpx
    import httpx

NOTHING_YET = "no events in the warehouse yet"
INGEST_FIX = (
    "load events: `trackstack-wh ingest FILES`, or the sink (`serve`, then `ingest --landing`); "
    "`trackstack-wh demo` loads the samples"
)

NEWEST_SQL = """
select max(t) from (
    select max(ts) as t from events
    union all select max(seen_at) from identities
)"""


@dataclass(frozen=True)
class Scope:
    """One doctor run's inputs. ``since``..``until`` is the window of events (by event
    time) the data checks read: the ``days`` up to the newest event or identify record
    in the warehouse, not up to now, so recorded data (the committed samples) is judged
    as it was when it arrived; None for both when the warehouse holds none."""

    conn: duckdb.DuckDBPyConnection
    config: WorkspaceConfig
    days: float
    since: dt.datetime | None
    until: dt.datetime | None
    as_of: dt.datetime
    """The wall clock: API sunsets, delivery freshness and landing ages are judged at it."""
    landing: Path
    online: bool = False
    transport: httpx.AsyncBaseTransport | None = None

    @property
    def params(self) -> dict[str, dt.datetime | None]:
        """``$since`` / ``$until`` for SQL over event times (inclusive)."""
        return {"since": self.since, "until": self.until}

    @property
    def period(self) -> str:
        """``the last 30 days`` (of data)."""
        return f"the last {self.days:g} day{'s' if self.days != 1 else ''}"

    def enabled(self) -> list[Destination]:
        return self.config.enabled()

    def has(self, table: str) -> bool:
        return has_table(self.conn, table)

    def window_line(self) -> str:
        """What the data checks read, for the head of the report."""
        if self.since is None or self.until is None:
            return "no events in the warehouse yet: the data checks have nothing to read"
        return (
            f"data checks: events of the {self.days:g} day(s) up to the newest one "
            f"({self.since:%Y-%m-%d %H:%M} .. {self.until:%Y-%m-%d %H:%M} UTC); "
            f"clock {self.as_of:%Y-%m-%d %H:%M} UTC"
        )


def newest_data_time(conn: duckdb.DuckDBPyConnection) -> dt.datetime | None:
    """The newest event (or identify record) time in the warehouse, None when empty."""
    if not has_table(conn, "events"):
        return None
    query = NEWEST_SQL if has_table(conn, "identities") else "select max(ts) from events"
    newest: dt.datetime | None = conn.execute(query).fetchall()[0][0]
    return newest.astimezone(dt.UTC) if newest is not None else None


def make_scope(
    conn: duckdb.DuckDBPyConnection,
    config: WorkspaceConfig,
    *,
    days: float,
    landing: Path,
    as_of: dt.datetime | None = None,
    online: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Scope:
    """The scope of a run: the window of ``days`` up to the newest data time."""
    until = newest_data_time(conn)
    since = until - dt.timedelta(days=days) if until is not None else None
    return Scope(
        conn, config, days, since, until, as_of or dt.datetime.now(dt.UTC), landing, online,
        transport,
    )  # fmt: skip
