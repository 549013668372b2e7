"""Identify records' traits normalized and hashed like events' keys: ``identify_identity``.

One row per identify record (``event_id`` is its ``identify_id``) with the columns of
``event_identity``, from the traits named like the contract's identity fields (``email``,
``firstName`` or ``first_name``, ...) and the record's ``userId`` as its external ID.
"""

from __future__ import annotations

import duckdb

from trackstack_wh.contract import FIELDS, Group
from trackstack_wh.db import has_table
from trackstack_wh.identity.sql import SOURCES, append_identity, build_identity
from trackstack_wh.sql import lit

TRAIT_NAMES: dict[str, tuple[str, ...]] = {
    f.column: tuple(dict.fromkeys(n.lower() for n in (f.name, f.column, *f.aliases)))
    for f in FIELDS
    if f.group is Group.IDENTITY and f.column in SOURCES
}
"""Identity column -> the identify trait names that fill it (lower case)."""


def _identify_values(where: str) -> str:
    """Identify records as rows with the identity columns of ``events``."""
    columns = []
    for column in SOURCES:
        names = TRAIT_NAMES.get(column, ())
        if column == "external_id":
            columns.append("nullif(trim(any_value(user_id)), '') as external_id")
        elif names:
            listed = ", ".join(lit(n) for n in names)
            columns.append(f"max(value) filter (where lower(trait) in ({listed})) as {column}")
        else:
            columns.append(f"null::varchar as {column}")
    return f"""
select identify_id as event_id, null::bigint as event_seq, {", ".join(columns)}
from identities where {where}
group by identify_id"""


def hash_identify_records(
    conn: duckdb.DuckDBPyConnection, phone_region: str | None, *, full: bool
) -> None:
    """``identify_identity``: identify traits normalized and hashed like event keys
    (every record when ``full``, else the records not hashed yet)."""
    if full or not has_table(conn, "identify_identity"):
        conn.execute(f"create or replace temp table identify_values as {_identify_values('true')}")
        build_identity(conn, phone_region, source="identify_values", target="identify_identity")
    else:
        conn.execute(
            "create or replace temp table identify_values as "
            + _identify_values("identify_id not in (select event_id from identify_identity)")
        )
        append_identity(conn, phone_region, "identify_values", "identify_identity")
    conn.execute(
        "delete from identify_identity where event_id not in (select identify_id from identities)"
    )
    conn.execute("drop table if exists temp.identify_values")
