"""Match keys an event borrows from its person's other events and identify records.

For every event of a known person (`trackstack_wh.people`) whose own consent, and the
person's latest answer before it, allow ad use (a person who denied it at sign-up gets
nothing stitched until they grant it), each key group the event lacks is taken from the
person's latest row at or before it that has the group and whose consent allows ad use:

- identity traits (one group per source field: email, phone, names, address parts,
  gender, birth date, external ID), from identify records and earlier events, hashed by
  the same rules as the event's own keys (donors' ``event_identity`` rows, identify
  records hashed into ``identify_identity``);
- browser context (user agent, IP, ``_fbp``, ``_ttp``) from the latest browser event
  within ``[stitching] browser_window_days``;
- ad click IDs per platform within its click window (`config.stitching`), last click
  wins (or first, ``click_attribution = "first"``); a Meta ``fbc`` built from a landing
  page's ``fbclid`` keeps the landing time as its click time.

``event_stitch`` holds one row per event that gained something: the borrowed values in
the same columns as ``event_identity`` / ``events`` and ``sources`` (JSON: group ->
``{"from": "event"|"identify", "id", "at"}``). It is rebuilt for the persons whose rows
changed (`people.TOUCHED`); the old events whose row changed are listed in temp table
``stitch_changed`` so their payload rows are built again.
"""

from __future__ import annotations

import duckdb

from trackstack_wh.config.stitching import StitchSettings
from trackstack_wh.consent import AD_USER_DATA, CONSENT_DENIED, consent_status
from trackstack_wh.contract import FIELDS, Group
from trackstack_wh.db import has_table
from trackstack_wh.identity.rules import HASHED_KEYS, KEY_SOURCE, Key
from trackstack_wh.identity.sql import PLAIN_KEYS, SOURCES, append_identity, build_identity
from trackstack_wh.people import TOUCHED
from trackstack_wh.sql import lit


def _identity_columns(source: str) -> tuple[str, ...]:
    keys = [k for k in Key if KEY_SOURCE[k] == source]
    hashed = [f"{k}_sha256" for k in keys if k in HASHED_KEYS]
    return tuple(hashed + [str(k) for k in keys if k in PLAIN_KEYS])


PII_GROUPS: dict[str, tuple[str, ...]] = {
    source: _identity_columns(source) for source in SOURCES if source != "client_ip"
}
"""Identity group (the source field) -> its ``event_identity`` columns."""

BROWSER_COLUMNS = ("user_agent", "client_ip", *_identity_columns("client_ip"), "fbp", "ttp")

CLICK_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "fbc": ("meta", ("fbc",)),
    "google_click": ("google_ads", ("gclid", "gbraid", "wbraid")),
    "li_fat_id": ("linkedin", ("li_fat_id",)),
    "ttclid": ("tiktok", ("ttclid",)),
    "sc_cid": ("snapchat", ("sc_cid",)),
    "rdt_cid": ("reddit", ("rdt_cid",)),
}
"""Click group -> (the platform whose window applies, its columns). Google's three IDs
are one group: a conversion carries one of them."""

GROUPS: dict[str, tuple[str, ...]] = {
    **PII_GROUPS,
    "browser": BROWSER_COLUMNS,
    **{name: columns for name, (_, columns) in CLICK_GROUPS.items()},
}
GROUP_CLASS: dict[str, str] = {
    **{g: "pii" for g in PII_GROUPS},
    "browser": "browser",
    **{g: "clicks" for g in CLICK_GROUPS},
}
"""Group -> the stitching class a destination opts into (``stitching = [...]``)."""

STITCH_COLUMNS: tuple[str, ...] = tuple(c for columns in GROUPS.values() for c in columns)

TRAIT_NAMES: dict[str, tuple[str, ...]] = {
    f.column: tuple(dict.fromkeys(n.lower() for n in (f.name, f.column, *f.aliases)))
    for f in FIELDS
    if f.group is Group.IDENTITY and f.column in SOURCES
}
"""Identity column -> the identify trait names that fill it (lower case)."""

STITCH_DDL = f"""
create table if not exists event_stitch (
    event_id varchar not null,
    event_seq bigint not null,
    person varchar not null,
    {", ".join(f"{c} varchar" for c in STITCH_COLUMNS)},
    sources json not null
)
"""

CHANGED = "stitch_changed"
"""Temp table (``event_id, event_seq``): events whose stitched keys changed."""


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


CONSENT_ANSWER = consent_status(AD_USER_DATA + ("marketing",), "granted", "denied")

FBC_OF_ROW = (
    "coalesce(e.fbc, case when e.fbclid is not null "
    "then 'fb.1.' || epoch_ms(e.ts) || '.' || e.fbclid end)"
)
"""A row's Meta click: its ``_fbc`` cookie, else one built from its ``fbclid`` at its time."""

PII_COLUMNS = tuple(c for columns in PII_GROUPS.values() for c in columns)
CLICK_COLUMNS = tuple(c for _, columns in CLICK_GROUPS.values() for c in columns if c != "fbc")
_PII = ", ".join(f"i.{c}" for c in PII_COLUMNS)
_EVENT_ONLY = ", ".join(f"null::varchar as {c}" for c in STITCH_COLUMNS if c not in PII_COLUMNS)

INPUT_SQL = f"""
create or replace temp table stitch_input as
select p.person, 1 as kind_rank, 'event' as row_kind, p.row_id, p.row_seq, p.ts,
    not {CONSENT_DENIED} as donor_ok, {CONSENT_ANSWER} as consent_answer,
    {_PII}, e.user_agent, e.client_ip, {", ".join(f"i.{c}" for c in BROWSER_COLUMNS[2:-2])},
    e.fbp, e.ttp, {FBC_OF_ROW} as fbc, {", ".join(f"e.{c}" for c in CLICK_COLUMNS)}
from person_rows p
join events e on e.event_seq = p.row_seq
join event_identity i on i.event_seq = p.row_seq
where p.row_kind = 'event' and p.person in (select person from {TOUCHED})
union all by name
select p.person, 0 as kind_rank, 'identify' as row_kind, p.row_id, p.row_seq, p.ts,
    not {CONSENT_DENIED} as donor_ok, {CONSENT_ANSWER} as consent_answer, {_PII}, {_EVENT_ONLY}
from person_rows p
join identify_identity i on i.event_id = p.row_id
join (select identify_id, any_value(consent) as consent from identities group by identify_id) c
    on c.identify_id = p.row_id
where p.row_kind = 'identify' and p.person in (select person from {TOUCHED})
"""
"""The rows of the touched persons with everything they could lend (``donor_ok``: their
consent allows ad use; ``consent_answer``: what they said about it, if anything)."""

ROW_ORDER = "partition by person order by ts, kind_rank, row_seq, row_id"


def _group_window(group: str, settings: StitchSettings) -> tuple[str, str | None]:
    """(window expression for the group's latest donor, its age limit in days)."""
    columns = GROUPS[group]
    has = " or ".join(f"{c} is not null" for c in columns)
    fields = ", ".join(f"{lit(c)}: {c}" for c in columns)
    donor = (
        f"case when donor_ok and ({has}) then "
        f"{{'kind': row_kind, 'id': row_id, 'at': ts, {fields}}} end"
    )
    frame = f"over ({ROW_ORDER} rows between unbounded preceding and current row)"
    if group == "browser":
        return f"last_value({donor} ignore nulls) {frame}", str(settings.browser_window_days)
    if group in CLICK_GROUPS:
        days = settings.click_window_days[CLICK_GROUPS[group][0]]
        if settings.click_attribution == "first":
            seconds = int(days * 86400)
            frame = (
                "over (partition by person order by ts "
                f"range between interval {seconds} second preceding and current row)"
            )
            return f"first_value({donor} ignore nulls) {frame}", str(days)
        return f"last_value({donor} ignore nulls) {frame}", str(days)
    return f"last_value({donor} ignore nulls) {frame}", None


def stitch_sql(settings: StitchSettings) -> str:
    """SELECT of the ``event_stitch`` rows of the events in ``stitch_input``."""
    windows, kept, sources = [], [], []
    for group, columns in GROUPS.items():
        expression, days = _group_window(group, settings)
        windows.append(f"{expression} as d_{group}")
        own_missing = " and ".join(f"{c} is null" for c in columns)
        age = "" if days is None else f" and d_{group}.at >= ts - to_seconds({days} * 86400)"
        kept.append(
            f"case when {own_missing} and d_{group}.id is distinct from row_id{age} "
            f"then d_{group} end as s_{group}"
        )
        sources.append(
            f"{{'k': {lit(group)}, 'v': case when s_{group} is not null then "
            f"{{'from': s_{group}.kind, 'id': s_{group}.id, 'at': s_{group}.at}} end}}"
        )
    values = ", ".join(f"s_{g}.{c} as {c}" for g, columns in GROUPS.items() for c in columns)
    any_kept = " or ".join(f"s_{g} is not null" for g in GROUPS)
    return f"""
select row_id as event_id, row_seq as event_seq, person, {values},
    to_json(map_from_entries(list_filter([{", ".join(sources)}], lambda x: x.v is not null)))
        as sources
from (
    select row_id, row_seq, person, {", ".join(kept)}
    from (
        select *, {", ".join(windows)},
            last_value(consent_answer ignore nulls) over ({ROW_ORDER}
                rows between unbounded preceding and current row) as person_consent
        from stitch_input
    )
    where row_kind = 'event' and donor_ok and person_consent is distinct from 'denied'
)
where {any_kept}"""


def update_event_stitch(
    conn: duckdb.DuckDBPyConnection, settings: StitchSettings, *, full: bool
) -> None:
    """Rebuild the ``event_stitch`` rows of the touched persons' events (every event when
    ``full``); temp table `CHANGED` lists the events whose row appeared, changed or went."""
    conn.execute(STITCH_DDL)
    conn.execute(INPUT_SQL)
    conn.execute(f"create or replace temp table stitch_new as {stitch_sql(settings)}")
    scope = "true" if full else f"person in (select person from {TOUCHED})"
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
    conn.execute(f"delete from event_stitch where event_seq in (select event_seq from {CHANGED})")
    conn.execute(
        f"insert into event_stitch from stitch_new "
        f"where event_seq in (select event_seq from {CHANGED})"
    )
    for table in ("stitch_input", "stitch_new"):
        conn.execute(f"drop table if exists temp.{table}")
