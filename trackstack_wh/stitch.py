"""Match keys an event borrows from its person's other events and identify records.

For every event of a known person (`trackstack_wh.people`) whose own consent, and the
person's latest answer before it, allow ad use (a person who denied it at sign-up gets
nothing stitched until they grant it), each key group the event lacks is taken from the
person's latest row at or before it that has the group and whose consent allows ad use:

- identity traits (one group per source field: email, phone, names, address parts,
  gender, birth date, external ID), from identify records and earlier events, hashed by
  the same rules as the event's own keys (donors' ``event_identity`` rows, identify
  records hashed into ``identify_identity`` by `identity.traits`);
- browser context (user agent, IP, ``_fbp``, ``_ttp``) from the latest browser event
  within ``[stitching] browser_window_days``;
- ad click IDs per platform within its click window (`config.stitching`), last click
  wins (or first, ``click_attribution = "first"``); a Meta ``fbc`` built from a landing
  page's ``fbclid`` keeps the landing time as its click time.

``event_stitch`` holds one row per event that gained something: the borrowed values in
the same columns as ``event_identity`` / ``events`` and ``sources`` (JSON: group ->
``{"from": "event"|"identify", "id", "at"}``). It is rebuilt for the persons whose rows
changed (`people.TOUCHED`), from their earliest changed row on: what an event borrows
depends only on the rows before it, so the earlier rows are read only for the latest
donor of each group. The old events whose row changed are listed in temp table
``stitch_changed`` so their payload rows are built again.
"""

from __future__ import annotations

import duckdb

from trackstack_wh.config.stitching import StitchSettings
from trackstack_wh.consent import AD_USE_ANSWER
from trackstack_wh.contract import CLICK_ID_FIELDS
from trackstack_wh.db import has_table
from trackstack_wh.identity.rules import HASHED_KEYS, KEY_SOURCE, Key
from trackstack_wh.identity.sql import PLAIN_KEYS
from trackstack_wh.people import CHANGED_ROWS, TOUCHED
from trackstack_wh.quality import COMPONENT_POINTS
from trackstack_wh.sql import lit


def _identity_columns(source: str) -> tuple[str, ...]:
    keys = [k for k in Key if KEY_SOURCE[k] == source]
    hashed = [f"{k}_sha256" for k in keys if k in HASHED_KEYS]
    return tuple(hashed + [str(k) for k in keys if k in PLAIN_KEYS])


PII_SOURCES: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "phone": ("phone",),
    "name": ("first_name", "last_name"),
    "address": ("city", "state", "zip", "country"),
    "demographics": ("gender", "date_of_birth"),
    "external_id": ("external_id",),
}
"""Identity group -> the source fields it takes together, from one row (a name or an
address is never assembled from two rows)."""
PII_GROUPS: dict[str, tuple[str, ...]] = {
    group: tuple(c for source in sources for c in _identity_columns(source))
    for group, sources in PII_SOURCES.items()
}
"""Identity group -> its ``event_identity`` columns."""
GROUP_OF_SOURCE = {source: g for g, sources in PII_SOURCES.items() for source in sources}

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


FBC_OF_ROW = (
    "coalesce(e.fbc, case when e.fbclid is not null "
    "then 'fb.1.' || epoch_ms(e.ts) || '.' || e.fbclid end)"
)
"""A row's Meta click: its ``_fbc`` cookie, else one built from its ``fbclid`` at its time."""

PII_COLUMNS = tuple(c for columns in PII_GROUPS.values() for c in columns)
CLICK_COLUMNS = tuple(c for _, columns in CLICK_GROUPS.values() for c in columns if c != "fbc")
IP_HASHES = _identity_columns("client_ip")


def _source(column: str, identify: bool = False) -> str:
    """Where a stitchable column comes from in a row's tables: ``i`` (its identity row:
    ``event_identity``, or ``identify_identity`` when ``identify``) or ``e`` (``events``);
    NULL for browser and click columns of an identify record."""
    if column in PII_COLUMNS or column in IP_HASHES:
        return f"i.{column}"
    if identify:
        return "null::varchar"
    return FBC_OF_ROW if column == "fbc" else f"e.{column}"


def _identify_has(group: str) -> str:
    """SQL over ``i`` (``identify_identity``): the identify record carries the group."""
    columns = [_source(c, identify=True) for c in GROUPS[group]]
    return "(" + " or ".join(f"{c} is not null" for c in columns) + ")"


OWN_CLICK = " or ".join(f"e.{f.column} is not null" for f in CLICK_ID_FIELDS)
OWN_NAME_LOCATION = (
    "(e.first_name is not null and e.last_name is not null "
    "and (e.zip is not null or e.city is not null) and e.country is not null)"
)
"""The quality score's click and name-with-location components, on the event itself."""

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

IS_TARGET = "(list_contains($events, {}.event_name) or list_contains($events, '*'))"
"""The event of table alias ``{}`` may borrow keys (``[stitching] events``, parameter
``$events``)."""

ORDER_KEY = (
    "(epoch_us(ts)::hugeint << 64) + (kind_rank::hugeint << 63) "
    "+ coalesce(row_seq, hash(row_id) >> 1)::hugeint"
)
"""One number per row in the person's order: time, identify records before events at the
same instant, then load order (an identify record's ID hash): unique, so every run picks
the same donor."""


def _carries(group: str) -> str:
    """SQL over ``e`` (``events``): the event carries a value for the group (one it sent,
    usable or not: a stitched value never replaces what the event itself says)."""
    if group in PII_SOURCES:
        columns = list(PII_SOURCES[group])
    else:
        columns = [c for c in GROUPS[group] if not c.endswith("_sha256")]
        columns += ["fbclid"] if group == "fbc" else []
    return "(" + " or ".join(f"e.{c} is not null" for c in columns) + ")"


def flags_sql(events: str) -> str:
    """SELECT of the ``stitch_flags`` rows of the events matching ``events`` (over ``e``)."""
    return f"""
select e.event_seq as row_seq, e.event_name, {AD_USE_ANSWER} as consent_answer,
    {OWN_CLICK} as own_click, {OWN_NAME_LOCATION} as own_name_location,
    {", ".join(f"{_carries(g)} as has_{g}" for g in GROUPS)}
from events e
where {events}"""


def flags_ddl(enabled: bool) -> str:
    """``stitch_flags`` of every event (none when stitching is off), read once from the
    events alone: what it said about ad use, whether it carries a click or a name with a
    location, and which key groups it carries (``has_<group>``)."""
    return f"create or replace table stitch_flags as {flags_sql(str(enabled).lower())}"


NEW_FLAGS = f"insert into stitch_flags {flags_sql('e.event_seq > $through')}"

TARGET_PEOPLE_SQL = f"""
create or replace temp table stitch_people as
select p.person, any_value(t.since) as since
from person_rows p
join {TOUCHED} t on t.person = p.person
join stitch_flags f on f.row_seq = p.row_seq
where p.row_kind = 'event' and (t.since is null or p.ts >= t.since) and {IS_TARGET.format("f")}
group by p.person
"""
"""The touched persons with an event at or after their earliest changed row that may
borrow keys (only their rows are read); ``since`` is that row's time (NULL: every row)."""


def _row_flags(rows: str, person: str, kept: str = "", join: str = "") -> str:
    """The rows of ``rows`` whose ``person`` column names a person of ``stitch_people``
    and that match ``kept``, with their flags (``known``: an identify record's traits
    are still loaded; ``join = "left"`` keeps those that are not)."""
    return f"""
select p.{person} as person, 1 as kind_rank, p.row_kind, p.row_id, p.row_seq, p.ts,
    f.event_name, f.consent_answer, f.own_click, f.own_name_location,
    {", ".join(f"f.has_{g}" for g in GROUPS)}, true as known
from {rows} p join stitch_flags f on f.row_seq = p.row_seq
where p.row_kind = 'event' and p.{person} in (select person from stitch_people){kept}
union all
select p.{person}, 0, p.row_kind, p.row_id, p.row_seq, p.ts, null, {AD_USE_ANSWER}, false,
    false, {", ".join(_identify_has(g) for g in GROUPS)}, i.event_id is not null
from {rows} p
{join} join identify_identity i on i.event_id = p.row_id
{join} join (select identify_id, any_value(consent) as consent from identities
      group by identify_id) c on c.identify_id = p.row_id
where p.row_kind = 'identify' and p.{person} in (select person from stitch_people){kept}
"""


PERSON_ROWS = _row_flags("person_rows", "person")
"""Every row of those persons with its flags."""
LEFT_ROWS = _row_flags(
    CHANGED_ROWS, "old_person", " and p.old_person is distinct from p.new_person", "left"
)
"""The rows that left those persons in the last update of the person graph."""

DONOR_OK = "consent_answer is distinct from 'denied'"
UNBOUNDED = "(1::hugeint << 126)"
"""An order key after every row's."""
MASK = " + ".join(f"(has_{g}::bigint << {i})" for i, g in enumerate(GROUPS))
"""The key groups a row carries, one bit each."""


def rows_sql(settings: StitchSettings) -> str:
    """``stitch_rows``: the rows whose borrowed keys a change can move (the events among
    them that may borrow keys are ``is_target``), and of the others only those that can
    still lend to them.

    A row that joined or left a person (``people_changed``) moves what the person's
    later events borrow only until the next row that carries every key group it lends
    (and a consent answer, when it gives one): the rows from it to that one are read,
    every row when no such row exists, or after a whole build. Of the other rows only
    the latest donor per key group and the latest consent answer before each such run
    (and with first-click attribution, every click within the platform's window)."""
    first_click = settings.click_attribution == "first"
    click_bits = sum(1 << i for i, g in enumerate(GROUPS) if g in CLICK_GROUPS)
    lends = f"case when {DONOR_OK} then {MASK} else 0 end"
    marks = [f"max(x.ord) filter (where x.has_{g} and x.{DONOR_OK})" for g in GROUPS]
    marks.append("max(x.ord) filter (where x.consent_answer is not null)")
    windows = [
        f"(has_{g} and s.ts >= s.since - to_seconds({_max_age_days(g, settings)} * 86400))"
        for g in CLICK_GROUPS
        if first_click
    ]
    return f"""
create or replace temp table stitch_rows as
with r as (
    select f.*, c.row_id is not null as moved_in
    from (select *, {ORDER_KEY} as ord, {lends} as lends from ({PERSON_ROWS})) f
    left join {CHANGED_ROWS} c on c.row_kind = f.row_kind and c.row_id = f.row_id
),
last_kept as (
    select person, max(ord) filter (where not moved_in) as last from r group by person
),
moved as (
    select person, ord, lends, consent_answer, known from r where moved_in
    union all
    select person, {ORDER_KEY}, {lends}, consent_answer, known from ({LEFT_ROWS})
),
runs as (
    select m.person, min(m.ord) as start, null::hugeint as stop
    from moved m left join last_kept k on k.person = m.person
    where k.last is null or m.ord > k.last
    group by m.person
    union all
    select m.person, m.ord,
        case when m.lends = 0 and m.consent_answer is null then m.ord + 1
             when not m.known or (m.lends & {click_bits} <> 0 and {str(first_click).lower()})
                then null
             else (select min(x.ord) from r x
                   where x.person = m.person and x.ord > m.ord
                     and (m.lends = 0 or (x.lends & m.lends) = m.lends)
                     and (m.consent_answer is null or x.consent_answer is not null)) end
    from moved m join last_kept k on k.person = m.person
    where m.ord <= k.last
),
reach as (
    select person, start, max(start) over (partition by person) as last_start,
        max(coalesce(stop, {UNBOUNDED})) over (partition by person order by start) as reach
    from runs
),
s as (
    select a.*, p.since, p.since is null or coalesce(a.ord < a.reach, false) as recent
    from (
        select r.*, u.start as run_start, u.last_start, u.reach
        from r asof left join reach u on u.person = r.person and r.ord >= u.start
    ) a
    join stitch_people p on p.person = a.person
),
earlier as (
    select distinct person, unnest(marks) as ord from (
        select x.person, [{", ".join(marks)}] as marks
        from s x
        where not x.recent and (x.run_start is null or x.run_start < x.last_start)
        group by x.person, x.run_start
    )
)
select s.* exclude (since, lends, known, moved_in, run_start, last_start, reach),
    recent and coalesce({IS_TARGET.format("s")}, false) as is_target
from s left join earlier e on e.person = s.person and e.ord = s.ord
where recent or e.ord is not null{"".join(f" or {w}" for w in windows)}
"""


FRAME = "over (partition by person order by ord rows between unbounded preceding and current row)"


def _max_age_days(group: str, settings: StitchSettings) -> float | None:
    if group == "browser":
        return settings.browser_window_days
    if group in CLICK_GROUPS:
        return settings.click_window_days[CLICK_GROUPS[group][0]]
    return None


def _donor(group: str, settings: StitchSettings) -> str:
    """Window expression: the ``stitch_rows`` rowid of the group's donor for each row
    (the latest row at or before it with the group and consent; first-click attribution:
    the first such click within the platform's window)."""
    donor = f"case when has_{group} and {DONOR_OK} then rowid end"
    if group in CLICK_GROUPS and settings.click_attribution == "first":
        seconds = int((_max_age_days(group, settings) or 0) * 86400)
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
    return ", ".join(f"{_source(c, identify)} as {c}" for c in STITCH_COLUMNS)


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


def stitch_sql(settings: StitchSettings) -> tuple[list[str], str]:
    """The statements that prepare, and the SELECT of, the new ``event_stitch`` rows of
    the touched persons' events: one narrow window pass finds each event's donor row per
    key group, the donors' values are read once and joined back per group."""
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
        days = _max_age_days(g, settings)
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
    return [TARGET_PEOPLE_SQL, rows_sql(settings), targets, VALUES_SQL], final


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
    prepare, rows = stitch_sql(settings)
    for statement in prepare:
        conn.execute(
            statement, {"events": list(settings.events)} if "$events" in statement else None
        )
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
    for table in ("stitch_people", "stitch_rows", "stitch_targets", "stitch_values", "stitch_new"):
        conn.execute(f"drop table if exists temp.{table}")
