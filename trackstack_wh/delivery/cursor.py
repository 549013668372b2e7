"""Where a push resumes: per destination, request kind, mode and target, the payload rows
written (``built_seq``) up to the last full run, and those of them still open then.

A push looks only at the rows written since (new events, rebuilt rows) and at the open
rows it left behind (failed, retrying, not yet sent): its cost follows what is new, not
the warehouse. Invariant: every ready row at or below the cursor that has no final
outcome in this mode and target is in the backlog. A full run (no time window, no event
filter, not a dry run) moves the cursor to the highest row written when it started, and
keeps in the backlog the rows it looked at that are still open; other runs only read it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb

from trackstack_wh.db import transaction
from trackstack_wh.delivery.outbox import CANDIDATES, FINAL, IN_SCOPE
from trackstack_wh.delivery.plan import PushOptions

CURSOR_DDL = """
create table if not exists delivery_cursors (
    destination varchar not null,
    request_kind varchar not null,
    mode varchar not null,
    target varchar not null,
    built_through bigint not null,
    moved_at timestamptz not null,
    primary key (destination, request_kind, mode, target)
);
create table if not exists delivery_backlog (
    destination varchar not null,
    request_kind varchar not null,
    mode varchar not null,
    target varchar not null,
    event_id varchar not null,
    event_seq bigint
);
"""

SCOPE = ("destination", "kind", "mode", "target")


def read_cursor(conn: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> int | None:
    """The cursor of the scope in ``params`` (destination, kind, mode, target)."""
    conn.execute(CURSOR_DDL)
    found = conn.execute(
        f"select built_through from delivery_cursors c where {IN_SCOPE.format(t='c')}",
        {k: params[k] for k in SCOPE},
    ).fetchall()
    return int(found[0][0]) if found else None


def written_through(conn: duckdb.DuckDBPyConnection, table: str) -> int | None:
    """The highest ``built_seq`` of a payload table (taken before a run sends)."""
    top = conn.execute(f"select max(built_seq) from {table}").fetchall()[0][0]
    return None if top is None else int(top)


def advance(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    params: dict[str, Any],
    through: int | None,
    state: str,
    started: dt.datetime,
) -> None:
    """After a full run of one scope: the rows it looked at (written up to ``through``)
    that are still open become the backlog, and the cursor moves to ``through``. Open:
    no final outcome in the run's state snapshot ``state``, nor logged since the run
    ``started`` (the log is read from there on only)."""
    if through is None:
        return
    scope = {k: params[k] for k in SCOPE}
    conn.execute(
        f"""create or replace temp table backlog_next as
select p.event_id, p.event_seq from ({CANDIDATES.format(table=table)}) p
left join {state} s using (event_id)
where p.built_seq <= $through
  and (s.outcome is null or s.outcome not in (select unnest($final::varchar[])))
  and not exists (
      select 1 from delivery_log l where {IN_SCOPE.format(t="l")} and l.sent_at >= $started
        and l.event_id = p.event_id and l.outcome in (select unnest($final::varchar[]))
  )""",
        {
            **scope,
            "cursor": params["cursor"],
            "through": through,
            "final": list(FINAL),
            "started": started,
        },  # fmt: skip
    )
    try:
        with transaction(conn):
            conn.execute(f"delete from delivery_backlog b where {IN_SCOPE.format(t='b')}", scope)
            conn.execute(
                "insert into delivery_backlog select $destination, $kind, $mode, $target, "
                "event_id, event_seq from backlog_next",
                scope,
            )
            conn.execute(
                "insert or replace into delivery_cursors "
                "values ($destination, $kind, $mode, $target, $through, now())",
                {**scope, "through": through},
            )
    finally:
        conn.execute("drop table if exists temp.backlog_next")


def pending_params(
    conn: duckdb.DuckDBPyConnection,
    where: tuple[str, str, str, str],
    options: PushOptions,
    min_event_ms: float | None,
) -> dict[str, object]:
    """The parameters of the pending-row queries for ``where`` = (destination, request
    kind, mode, target), the push cursor included."""
    destination, kind, mode, target = where
    since, until = options.since, options.until
    params: dict[str, object] = {
        "destination": destination,
        "kind": kind,
        "mode": mode,
        "target": target,
        "now_s": dt.datetime.now(dt.UTC).timestamp(),
        "retry_failed": options.retry_failed,
        "since_s": since.timestamp() if since else None,
        "until_s": until.timestamp() if until else None,
        "event_names": list(options.event_names) if options.event_names else None,
        "min_event_ms": min_event_ms,
    }
    params["cursor"] = read_cursor(conn, params)
    return params
