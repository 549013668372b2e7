"""Files whose chunks are being committed, and undoing loads that never finished.

A file loads all or nothing although each chunk commits on its own (`pipeline`): it is
listed in ``ingest_loading`` (with the loading process's ID) until its ``ingest_batches``
row is written in the last transaction. Rows of a listed file that no live load owns are
removed by `discard_interrupted_loads`, which ``Warehouse`` runs whenever it opens the
file for writing, so no later step ever sees half a file.
"""

from __future__ import annotations

import os

import duckdb

from trackstack_wh.db import transaction
from trackstack_wh.payloads.inspect import existing_tables

LOADED_TABLES = ("events", "identities", "quarantine", "duplicates")


def start_load(conn: duckdb.DuckDBPyConnection, batch_id: str, source: str, sha: str) -> None:
    """List a file as loading, owned by this process; what an earlier attempt at the same
    file left (its undo failed too) is removed first."""
    listed = conn.execute("select 1 from ingest_loading where batch_id = ?", [batch_id])
    if listed.fetchall():
        discard_load(conn, batch_id)
    conn.execute(
        "insert into ingest_loading (batch_id, source_uri, content_sha256, started_at, pid) "
        "values (?, ?, ?, now(), ?)",
        [batch_id, source, sha, os.getpid()],
    )


def finish_load(conn: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """The file's batch row is written (same transaction): it is no longer loading."""
    conn.execute("delete from ingest_loading where batch_id = ?", [batch_id])


def discard_interrupted_loads(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """Remove what loads by other processes committed (returns their sources).

    Whoever holds the warehouse open for writing is its only writer (DuckDB locks the
    file), so a load listed by another process ID died midway; loads of this process may
    be running on another thread and are left alone. A discarded file loads again,
    whole, when it is ingested next.
    """
    loading = conn.execute(
        "select batch_id, source_uri from ingest_loading where pid is distinct from ?",
        [os.getpid()],
    ).fetchall()
    for batch_id, _ in loading:
        discard_load(conn, batch_id)
    return [source for _, source in loading]


def discard_load(conn: duckdb.DuckDBPyConnection, batch_id: str) -> None:
    """Delete a file's committed chunks, the payload rows a build made of them meanwhile
    and its loading entry, in one transaction."""
    with transaction(conn):
        for table in existing_tables(conn).values():
            conn.execute(
                f"delete from {table} where event_id in "
                "(select event_id from events where batch_id = ?)",
                [batch_id],
            )
        for table in LOADED_TABLES:
            conn.execute(f"delete from {table} where batch_id = ?", [batch_id])
        conn.execute("delete from sink_batches where ingest_batch_id = ?", [batch_id])
        conn.execute("delete from ingest_loading where batch_id = ?", [batch_id])
