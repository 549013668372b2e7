"""The `events` table DDL, derived from the contract.

The committed file sql/ddl/002_events.sql must equal `events_ddl()`; a test checks it, so
the table and the contract cannot drift apart. Regenerate with
``python -m trackstack_wh.contract.ddl > sql/ddl/002_events.sql``.
"""

from __future__ import annotations

from trackstack_wh.contract.fields import FIELDS

EVENT_META_COLUMNS: tuple[tuple[str, str], ...] = (
    ("event_id", "varchar not null"),
    ("event_name", "varchar not null"),
    ("stage", "varchar not null"),
    ("is_canonical", "boolean not null"),
    ("ts", "timestamptz not null"),
    ("event_date", "date not null"),
    ("received_at", "timestamptz not null"),
    ("batch_id", "varchar not null"),
    ("line_no", "bigint not null"),
    ("event_seq", "bigint not null"),
    ("input_shape", "varchar not null"),
    ("ts_inferred", "boolean not null"),
    ("event_id_generated", "boolean not null"),
    ("warnings", "varchar[] not null"),
    ("properties", "json"),
)
"""Columns every event row has besides its contract fields."""

_META_NAMES = {name for name, _ in EVENT_META_COLUMNS}
FIELD_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (f.column, f.duckdb_type.lower()) for f in FIELDS if f.column not in _META_NAMES
)


ADDED_COLUMNS: tuple[str, ...] = ("project_id", "edge_batch_id", "edge_received_at")
"""Field columns added after the first release: older warehouse files gain them."""

EVENT_SEQ_MIGRATION = """alter table events add column if not exists event_seq bigint;
update events set event_seq = rowid where event_seq is null;
"""
"""Older files gain ``event_seq`` (load order: the ingest batch's number times 2**32 plus
the line number), numbered in their storage order; new batches number after them."""

GENERATED_SESSION_COLUMN = (
    "alter table events add column if not exists session_id_generated boolean;\n"
)
"""Seed 002 (`trackstack_wh.ingest.sessions`): a record without ``sessionId`` gets a
generated one, and ``session_id_generated`` says which (NULL on rows loaded before)."""


def events_ddl() -> str:
    """CREATE TABLE statement for `events` (one row per event_id), then the ALTERs that
    bring a warehouse file made by an older version up to date."""
    cols = ",\n".join(
        f"    {name} {sql_type}" for name, sql_type in EVENT_META_COLUMNS + FIELD_COLUMNS
    )
    types = dict(FIELD_COLUMNS)
    alters = "".join(
        f"alter table events add column if not exists {name} {types[name]};\n"
        for name in ADDED_COLUMNS
    )
    return (
        "-- Generated from the contract by trackstack_wh.contract.ddl; do not edit by hand.\n"
        f"create table if not exists events (\n{cols}\n);\n{alters}{EVENT_SEQ_MIGRATION}"
        f"{GENERATED_SESSION_COLUMN}"
    )


if __name__ == "__main__":
    print(events_ddl(), end="")
