"""Keeping ``person_rows`` up to date at the cost of the new rows, not of the warehouse.

A stored row's person can change only when the link of its email changes (the email
gains or loses a user ID: `people.EMAIL_UIDS`) or, for a row that only its session
names, when its session's person changes (`people.DEVICE_PERSONS`). Both are counts,
so new and removed rows update them without reading other rows; the stored rows are
read only for the emails and sessions whose link moved.
"""

from __future__ import annotations

import duckdb

from trackstack_wh.people import CHANGED_ROWS, DEVICE_PERSONS, EMAIL_UIDS, IDENTIFIED_AS, TOUCHED

NEW_ROWS = """
create or replace temp table people_new as
select * from person_inputs
where (row_kind = 'event' and row_seq > $through)
   or (row_kind = 'identify'
       and row_id not in (select row_id from person_rows where row_kind = 'identify'))
"""
"""The events above ``$through`` and the identify records not seen yet."""

REMOVED_ROWS = """
create or replace temp table people_removed as
select rowid as stored_at, * from person_rows
where row_kind = 'identify' and row_id not in (select identify_id from identities)
"""
"""The rows of identify records no longer loaded (their load was undone)."""

EMAIL_DELTA = """
create or replace temp table people_email_delta as
select email, uid, sum(d)::bigint as d from (
    select email, uid, 1 as d from people_new
    union all
    select email, uid, -1 from people_removed
)
where email is not null and uid is not null
group by all
"""


def _single_value(source: str, key: str, value: str) -> str:
    """Per key of count rows ``source``: its value when it has exactly one, else NULL."""
    return (
        f"select {key}, case when count(*) = 1 then min({value}) end as {value} "
        f"from {source} group by {key}"
    )


def _linked(table: str, key: str, value: str, rows: str) -> str:
    """The keys of ``rows`` with the value count table ``table`` links them to (NULL:
    none or several)."""
    return _single_value(
        f"(select * from {table} where {key} in (select {key} from {rows}))", key, value
    )


IDENTIFIED = f"""
create or replace temp table people_identified as
select n.row_kind, n.row_id, n.row_seq, n.ts, n.uid, n.email, n.device,
    null::bigint as stored_at, null::varchar as old_person, null::varchar as old_linked_by,
    coalesce(n.uid, l.uid, n.email) as identified,
    case when n.uid is not null then 'user_id' when l.uid is not null then 'email_link'
         when n.email is not null then 'email' end as identified_by
from people_new n
left join ({_linked(EMAIL_UIDS, "email", "uid", "people_new")}) l using (email)
union all
select p.row_kind, p.row_id, p.row_seq, p.ts, p.uid, p.email, p.device, p.rowid,
    p.person, p.linked_by, coalesce(c.uid, p.email),
    case when c.uid is not null then 'email_link' else 'email' end
from person_rows p
join people_email_changed c on c.email = p.email
where p.uid is null and p.rowid not in (select stored_at from people_removed)
"""
"""The new rows and the stored rows whose email link moved, with their person before
sessions are read (``identified``) and, for stored rows, their row number and person."""

DEVICE_DELTA = f"""
create or replace temp table people_device_delta as
select device, person, sum(d)::bigint as d from (
    select device, identified as person, 1 as d from people_identified
    union all
    select device, {IDENTIFIED_AS.format("old_")}, -1 from people_identified
    where stored_at is not null
    union all
    select device, {IDENTIFIED_AS.format("")}, -1 from people_removed
)
where device is not null and person is not null
group by all
having sum(d) <> 0
"""

JUDGED = f"""
create or replace temp table people_judged as
select i.row_kind, i.row_id, i.row_seq, i.ts, i.uid, i.email, i.device, i.stored_at,
    i.old_person, i.old_linked_by, coalesce(i.identified, d.person) as person,
    coalesce(i.identified_by, case when d.person is not null then 'session' end) as linked_by
from people_identified i
left join ({_linked(DEVICE_PERSONS, "device", "person", "people_identified")}) d
    using (device)
"""
"""The new rows and those whose email link moved, with their person now."""

SESSION_MOVED = """
create or replace temp table people_session_moved as
select p.rowid as stored_at, p.person as old_person, c.person,
    case when c.person is not null then 'session' end as linked_by
from person_rows p
join people_device_changed c on c.device = p.device
where (p.linked_by is null or p.linked_by = 'session')
  and p.person is distinct from c.person
  and p.rowid not in (select stored_at from people_removed)
"""
"""The stored rows only their session names whose person moved with their session's
(only their row numbers: their other columns stay)."""

MOVED = (
    "(stored_at is null or person is distinct from old_person "
    "or linked_by is distinct from old_linked_by)"
)

CHANGED = f"""
create or replace temp table {CHANGED_ROWS} as
select row_kind, row_id, row_seq, ts, old_person, person as new_person
from people_judged where {MOVED}
union all
select p.row_kind, p.row_id, p.row_seq, p.ts, m.old_person, m.person
from person_rows p join people_session_moved m on m.stored_at = p.rowid
union all
select row_kind, row_id, row_seq, ts, person, null from people_removed
"""

TOUCHED_PEOPLE = f"""
create or replace temp table {TOUCHED} as
select person, min(ts) as since from (
    select old_person as person, ts from {CHANGED_ROWS}
    union all
    select new_person, ts from {CHANGED_ROWS}
)
where person is not null
group by person
"""

STORE = f"""
update person_rows set person = m.person, linked_by = m.linked_by
from people_session_moved m
where person_rows.rowid = m.stored_at;
delete from person_rows
where rowid in (select stored_at from people_judged where {MOVED})
   or rowid in (select stored_at from people_removed);
insert into person_rows
select row_kind, row_id, row_seq, ts, uid, email, device, person, linked_by
from people_judged where {MOVED};
"""

_TEMP = ("people_new", "people_removed", "people_email_delta", "people_email_changed",
         "people_identified", "people_device_delta", "people_device_changed", "people_judged",
         "people_session_moved",
         "counts_before", "counts_after")  # fmt: skip


def apply_counts(
    conn: duckdb.DuckDBPyConnection, table: str, key: str, value: str, delta: str, moved: str
) -> None:
    """Add temp table ``delta`` (``key, value, d``) to count table ``table``; temp table
    ``moved`` (``key, value``) lists the keys whose single value (the one value with rows,
    NULL when none or several) moved, with the new one."""
    conn.execute(
        f"create or replace temp table counts_before as select rowid as stored_at, * "
        f"from {table} where {key} in (select {key} from {delta})"
    )
    conn.execute(
        f"""
create or replace temp table counts_after as
select {key}, {value}, sum(n)::bigint as n from (
    select {key}, {value}, n from counts_before
    union all
    select {key}, {value}, d from {delta}
)
group by all
having sum(n) > 0"""
    )
    conn.execute(f"delete from {table} where rowid in (select stored_at from counts_before)")
    conn.execute(f"insert into {table} select {key}, {value}, n from counts_after")
    conn.execute(
        f"""
create or replace temp table {moved} as
select k.{key}, a.{value}
from (select distinct {key} from {delta}) k
left join ({_single_value("counts_after", key, value)}) a using ({key})
left join ({_single_value("counts_before", key, value)}) b using ({key})
where a.{value} is distinct from b.{value}"""
    )


def update_person_rows(conn: duckdb.DuckDBPyConnection, through: int) -> None:
    """Add the events above ``through`` and the identify records not seen yet, judge
    again the stored rows whose email or session link they move, drop the rows of
    identify records no longer loaded; temp tables `CHANGED_ROWS` and `TOUCHED` (the
    persons, old and new, of every row that changed) say what changed.
    Needs ``person_rows`` and its counts (`people.build_person_rows`)."""
    conn.execute(NEW_ROWS, {"through": through})
    conn.execute(REMOVED_ROWS)
    conn.execute(EMAIL_DELTA)
    apply_counts(conn, EMAIL_UIDS, "email", "uid", "people_email_delta", "people_email_changed")
    conn.execute(IDENTIFIED)
    conn.execute(DEVICE_DELTA)
    apply_counts(
        conn, DEVICE_PERSONS, "device", "person", "people_device_delta", "people_device_changed"
    )
    conn.execute(JUDGED)
    conn.execute(SESSION_MOVED)
    conn.execute(CHANGED)
    conn.execute(TOUCHED_PEOPLE)
    conn.execute(STORE)
    for table in _TEMP:
        conn.execute(f"drop table if exists temp.{table}")
