"""Match keys an event borrows from its person's other events and identify records.

For every event of a known person (`trackstack_wh.people`) whose own consent, and the
person's latest answer before it, allow ad use (a person who denied it at sign-up gets
nothing stitched until they grant it), each key group the event lacks
(`stitch.groups`) is taken from the person's latest row at or before it that has the
group and whose consent allows ad use: identity traits hashed by the same rules as the
event's own keys; browser context within ``[stitching] browser_window_days``; ad click
IDs per platform within its click window, last click wins (or first,
``click_attribution = "first"``), a Meta ``fbc`` built from a landing page's ``fbclid``
keeping the landing time as its click time.

``event_stitch`` holds one row per event that gained something: the borrowed values in
the same columns as ``event_identity`` / ``events`` and ``sources`` (JSON: group ->
``{"from": "event"|"identify", "id", "at"}``). An update reads only the rows a change
can move (`stitch.scope`); the old events whose row changed are listed in temp table
``stitch_changed`` so their payload rows are built again.
"""

from __future__ import annotations

import duckdb

from trackstack_wh.config.stitching import StitchSettings
from trackstack_wh.db import has_table
from trackstack_wh.people import CHANGED_ROWS
from trackstack_wh.quality import COMPONENT_POINTS
from trackstack_wh.sql import lit
from trackstack_wh.stitch.groups import (
    CLICK_GROUPS,
    DONOR_OK,
    GROUPS,
    NEW_FLAGS,
    STITCH_COLUMNS,
    flags_ddl,
    max_age_days,
    value_source,
)
from trackstack_wh.stitch.scope import SCOPE_TEMP, scope_statements

STITCH_DDL = f"""
create table if not exists event_stitch (
    event_id varchar not null,
    event_seq bigint not null,
    person varchar not null,
    {", ".join(f"{c} varchar" for c in STITCH_COLUMNS)},
    sources json not null,
    score_gain double not null
)
"""

CHANGED = "stitch_changed"
"""Temp table (``event_id, event_seq``): events whose stitched keys changed."""


SCORE_GAIN = f"""(
    case when g_email is not null then {COMPONENT_POINTS["email"]} else 0 end
    + case when g_phone is not null then {COMPONENT_POINTS["phone"]} else 0 end
    + case when g_external_id is not null then {COMPONENT_POINTS["external_id"]} else 0 end
    + case when not own_click and ({" or ".join(f"g_{g} is not null" for g in CLICK_GROUPS)})
        then {COMPONENT_POINTS["click_id"]} else 0 end
    + case when g_browser.client_ip is not null and g_browser.user_agent is not null
        then {COMPONENT_POINTS["ip_user_agent"]} else 0 end
    + case when not own_name_location and (has_name or g_name is not null)
        and (has_address or g_address is not null) then {COMPONENT_POINTS["name_location"]}
        else 0 end
)"""
"""Points the quality score gains from the stitched keys: a group is stitched only when the
event lacks it, so its component was 0 (clicks and name-with-location judged together
with what the event has)."""


FRAME = "over (partition by person order by ord rows between unbounded preceding and current row)"


def _donor(group: str, settings: StitchSettings) -> str:
    """Window expression: the ``stitch_rows`` rowid of the group's donor for each row
    (the latest row at or before it with the group and consent; first-click attribution:
    the first such click within the platform's window)."""
    donor = f"case when has_{group} and {DONOR_OK.format('')} then rowid end"
    if group in CLICK_GROUPS and settings.click_attribution == "first":
        seconds = int((max_age_days(group, settings) or 0) * 86400)
        return (
            f"first_value({donor} ignore nulls) over (partition by person order by ts "
            f"range between interval {seconds} second preceding and current row)"
        )
    return f"last_value({donor} ignore nulls) {FRAME}"


DONORS_SQL_TEMPLATE = """
create or replace temp table stitch_targets as
select person, ts, row_id, row_seq, own_click, own_name_location, has_name, has_address,
    {lacking}
from (
    select *, {donors}, last_value(consent_answer ignore nulls) {frame} as person_consent
    from stitch_rows
)
where is_target and person_consent is distinct from 'denied'
"""


def _values(identify: bool) -> str:
    return ", ".join(f"{value_source(c, identify)} as {c}" for c in STITCH_COLUMNS)


VALUES_SQL = f"""
create or replace temp table stitch_values as
with used as (
    select rowid as idx, row_kind, row_id, row_seq, ts from stitch_rows
    where rowid in (select unnest([{", ".join(f"d_{g}" for g in GROUPS)}])
                    from stitch_targets)
)
select u.idx, u.row_kind as donor_kind, u.row_id as donor_id, u.ts as donor_at,
    {_values(False)}
from used u
join events e on e.event_seq = u.row_seq
join event_identity i on i.event_seq = u.row_seq
where u.row_kind = 'event'
union all
select u.idx, u.row_kind, u.row_id, u.ts, {_values(True)}
from used u
join identify_identity i on i.event_id = u.row_id
where u.row_kind = 'identify'
"""
"""The values of the rows that lend something (each read once)."""


def stitch_sql(settings: StitchSettings, full: bool) -> tuple[list[str], str]:
    """The statements that prepare, and the SELECT of, the new ``event_stitch`` rows of
    the events a change can move (`stitch.scope`; every event when ``full``): one narrow
    window pass finds each event's donor row per key group, the donors' values are read
    once and joined back per group."""
    donors = ", ".join(f"{_donor(g, settings)} as d_{g}" for g in GROUPS)
    lacking = ", ".join(f"case when not has_{g} then d_{g} end as d_{g}" for g in GROUPS)
    targets = DONORS_SQL_TEMPLATE.format(lacking=lacking, donors=donors, frame=FRAME)
    joins, kept = [], []
    for g, columns in GROUPS.items():
        fields = ", ".join(f"{lit(c)}: {c}" for c in columns)
        joins.append(
            f"left join (select idx, {{'kind': donor_kind, 'id': donor_id, 'at': donor_at, "
            f"{fields}}} as v "
            f"from stitch_values where idx in (select d_{g} from stitch_targets)) j_{g} "
            f"on j_{g}.idx = t.d_{g}"
        )
        days = max_age_days(g, settings)
        age = "" if days is None else f" and j_{g}.v.at >= t.ts - to_seconds({days} * 86400)"
        kept.append(f"case when j_{g}.v is not null{age} then j_{g}.v end as g_{g}")
    values = ", ".join(f"g_{g}.{c} as {c}" for g, columns in GROUPS.items() for c in columns)
    sources = ", ".join(
        f"{{'k': {lit(g)}, 'v': case when g_{g} is not null then "
        f"{{'from': g_{g}.kind, 'id': g_{g}.id, 'at': g_{g}.at}} end}}"
        for g in GROUPS
    )
    any_kept = " or ".join(f"g_{g} is not null" for g in GROUPS)
    final = f"""
select row_id as event_id, row_seq as event_seq, person, {values},
    to_json(map_from_entries(list_filter([{sources}], lambda x: x.v is not null))) as sources,
    {SCORE_GAIN} as score_gain
from (
    select t.row_id, t.row_seq, t.person, t.own_click, t.own_name_location, t.has_name,
        t.has_address, {", ".join(kept)}
    from stitch_targets t
    {chr(10).join(joins)}
)
where {any_kept}"""
    return [*scope_statements(settings, full), targets, VALUES_SQL], final


def update_event_stitch(
    conn: duckdb.DuckDBPyConnection,
    settings: StitchSettings,
    *,
    full: bool,
    through: int | None = None,
) -> None:
    """Rebuild the ``event_stitch`` rows of the touched persons' events (every event when
    ``full``; else the flags of the events above ``through`` and of new identify records
    are added first); temp table `CHANGED` lists the events whose row appeared, changed or went
    (after a full build over an empty table: none, there was nothing to change)."""
    conn.execute(STITCH_DDL)
    if full or not has_table(conn, "stitch_flags"):
        conn.execute(flags_ddl(settings.enabled))
    else:
        conn.execute(NEW_FLAGS, {"through": through})
    prepare, rows = stitch_sql(settings, full)
    params = {"events": list(settings.events), "default_ad_use": settings.default_ad_use}
    for statement in prepare:
        conn.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement} or None)
    if full and not conn.execute("select count(*) from event_stitch").fetchall()[0][0]:
        conn.execute(f"create or replace temp table {CHANGED} (event_id varchar, event_seq bigint)")
        conn.execute(f"insert into event_stitch {rows}")
    else:
        conn.execute(f"create or replace temp table stitch_new as {rows}")
        scope = (
            "true"
            if full
            else "event_seq in (select row_seq from stitch_rows where recent) "
            f"or event_seq in (select row_seq from {CHANGED_ROWS})"
        )
        conn.execute(
            f"""
create or replace temp table {CHANGED} as
select event_id, event_seq from (
    (from stitch_new except from event_stitch where {scope})
    union all
    (from event_stitch where {scope} except from stitch_new)
)
group by all"""
        )
        conn.execute(
            f"delete from event_stitch where event_seq in (select event_seq from {CHANGED})"
        )
        conn.execute(
            f"insert into event_stitch from stitch_new "
            f"where event_seq in (select event_seq from {CHANGED})"
        )
    for table in (*SCOPE_TEMP, "stitch_targets", "stitch_values", "stitch_new"):
        conn.execute(f"drop table if exists temp.{table}")
