"""Which rows a stitching update reads: the runs a change can move, and what lends to them.

A row that joined or left a person (`people.CHANGED_ROWS`) moves what the person's later
events borrow only until the next row that carries every key group it lends (and a
consent answer, when it gives one). An update reads the rows of the persons whose rows
changed and keeps the rows of those runs (``recent``; the events among them that may
borrow keys are ``is_target``) and, of the others, only those that can still lend to
them: per key group the latest donor and the latest consent answer before each run.
"""

from __future__ import annotations

from trackstack_wh.config.stitching import StitchSettings
from trackstack_wh.consent import AD_USE_ANSWER
from trackstack_wh.people import CHANGED_ROWS, TOUCHED
from trackstack_wh.stitch.groups import (
    CLICK_BITS,
    CLICK_GROUPS,
    DONOR_OK,
    GROUPS,
    IS_TARGET,
    MASK,
    ORDER_KEY,
    identify_has,
    max_age_days,
)

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
    false, {", ".join(identify_has(g) for g in GROUPS)}, i.event_id is not null
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

UNBOUNDED = "(1::hugeint << 126)"
"""An order key after every row's."""


def rows_sql(settings: StitchSettings) -> str:
    """``stitch_rows`` of an update (a whole build reads every row: `FULL_ROWS_SQL`): the
    rows whose borrowed keys a change can move (the events among
    them that may borrow keys are ``is_target``), and of the others only those that can
    still lend to them.

    A row that joined or left a person (``people_changed``) moves what the person's
    later events borrow only until the next row that carries every key group it lends
    (and a consent answer, when it gives one): the rows from it to that one are read,
    every row when no such row exists. Of the other rows only
    the latest donor per key group and the latest consent answer before each such run
    (and with first-click attribution, every click within the platform's window)."""
    first_click = settings.click_attribution == "first"
    lends = f"case when {DONOR_OK.format('')} then {MASK} else 0 end"
    marks = [f"max(x.ord) filter (where x.has_{g} and {DONOR_OK.format('x.')})" for g in GROUPS]
    marks.append("max(x.ord) filter (where x.consent_answer is not null)")
    windows = [
        f"(has_{g} and s.ts >= s.since - to_seconds({max_age_days(g, settings)} * 86400))"
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
             when not m.known or (m.lends & {CLICK_BITS} <> 0 and {str(first_click).lower()})
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
    select a.*, p.since, coalesce(a.ord < a.reach, false) as recent
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


FULL_ROWS_SQL = f"""
create or replace temp table stitch_rows as
select * exclude (known), true as recent, coalesce({IS_TARGET.format("r")}, false) as is_target
from (select *, {ORDER_KEY} as ord from ({PERSON_ROWS})) r
"""
"""Every row of the persons with an event that may borrow keys (a whole build)."""

SCOPE_TEMP = ("stitch_people", "stitch_rows")


def scope_statements(settings: StitchSettings, full: bool) -> list[str]:
    """The statements that fill temp table ``stitch_rows`` (every row when ``full``)."""
    return [TARGET_PEOPLE_SQL, FULL_ROWS_SQL if full else rows_sql(settings)]
