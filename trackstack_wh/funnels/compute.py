"""Each person's best path through the funnel, set-based in DuckDB.

Ordered (``strict``, the PostHog/Amplitude definition): every event matching step 1 is a
possible entry; from an entry, each next step takes the earliest matching event at or
after the previous step's time (ties in time count as in order; an ASOF join per step),
as long as it lies within ``window`` of the entry. When a step can match the same events
as an earlier step (a repeated step, overlapping filters), it must come after every
event already on the path in (time, arrival) order, so no event fills two steps. Taking
the earliest event at each step is optimal, so the person's furthest step is the
furthest over all entries; ties go to the earliest entry.

Any order: from every time a person did any step, each step takes its earliest event
within ``window``; a person reaches step k when steps 1..k all happened in one window
(an event may fill several steps). A step's time is when steps 1..k were all done; the
person entered at the first of the steps reached.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import duckdb

from trackstack_wh.db import has_table
from trackstack_wh.enrich import staleness
from trackstack_wh.funnels.steps import Step, Value

ORDERS = ("strict", "any")
SEQ_SHIFT = 2**64
"""Orders events by (time, arrival): ``epoch_us(ts) * 2^64 + event_seq`` (a hugeint;
``event_seq`` is below 2^63)."""
REACH_SHIFT = 2**118
"""Ranks entries by steps reached, then earliest: ``reached * 2^118 - k`` (``|k|`` is
below 2^118 for times within 570 years of 1970; at most ``MAX_STEPS`` steps keep the
rank below 2^127)."""


def person_source(conn: duckdb.DuckDBPyConnection) -> str:
    """The relation (``event_id, person``) naming each event's person: the stitched
    person graph (``person_rows``) when it is current, else the ``event_people`` view
    (the same rule, computed on the fly)."""
    if (
        has_table(conn, "person_rows")
        and staleness(conn) is None
        and conn.execute("select count(*) > 0 from person_rows").fetchall() == [(True,)]
    ):
        return "(select row_id as event_id, person from person_rows where row_kind = 'event')"
    return "event_people"


def build_events(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    steps: Sequence[Step],
    column_types: dict[str, str],
    since: dt.datetime | None,
    until: dt.datetime | None,
    people: str,
) -> list[bool]:
    """Temp table ``table``: the events of known people (``people``, a ``person_source``)
    in ``[since, until)`` matching any step, with one boolean ``m{i}`` per step; returns,
    per step, whether it can match an event of an earlier step."""
    params: dict[str, Value | None] = {
        "since_s": since.timestamp() if since else None,
        "until_s": until.timestamp() if until else None,
    }
    flags = []
    for i, step in enumerate(steps, 1):
        expr, step_params = step.sql(f"s{i}", column_types)
        params.update(step_params)
        flags.append(f"{expr} as m{i}")
    any_step = " or ".join(f"m{i}" for i in range(1, len(steps) + 1))
    conn.execute(
        f"""
create or replace temp table {table} as
select * from (
    select e.event_id, e.ts, p.person,
        epoch_us(e.ts)::hugeint * {SEQ_SHIFT}::hugeint + coalesce(e.event_seq, 0) as k,
        {", ".join(flags)}
    from events e
    join {people} p using (event_id)
    left join canonical_events c using (event_name)
    where p.person is not null
        and ($since_s is null or e.ts >= to_timestamp($since_s))
        and ($until_s is null or e.ts < to_timestamp($until_s))
)
where {any_step}""",
        params,
    )
    pairs = [f"bool_or(m{i} and m{j})" for j in range(2, len(steps) + 1) for i in range(1, j)]
    overlap = conn.execute(f"select {', '.join(pairs)} from {table}").fetchall() if pairs else []
    found = [bool(v) for v in (overlap[0] if overlap else ())]
    out, at = [False], 0
    for j in range(2, len(steps) + 1):
        out.append(any(found[at : at + j - 1]))
        at += j - 1
    return out


def _by_time(events: str, i: int) -> str:
    """Step ``i``'s events, one row per person and time (the earliest arrival)."""
    return (
        f"(select person, ts, min(k) as k, arg_min(event_id, k) as event_id "
        f"from {events} where m{i} group by person, ts)"
    )


def _next(source: str, events: str, i: int, overlap: bool) -> str:
    """``source`` rows (``person, t{i-1}, kmax, ...``) with the earliest step-``i`` event
    after them as ``t{i}, k{i}, e{i}`` (NULL when there is none), ``kmax`` updated."""
    if overlap:
        target = f"(select person, ts, k, event_id from {events} where m{i})"
        cond = "r.k > c.kmax"
    else:
        target = _by_time(events, i)
        cond = f"r.ts >= c.t{i - 1}"
    return (
        f"select c.* exclude (kmax), r.ts as t{i}, r.k as k{i}, r.event_id as e{i}, "
        f"greatest(c.kmax, r.k) as kmax "
        f"from {source} c asof left join {target} r on c.person = r.person and {cond}"
    )


def strict_paths(events: str, n: int, overlaps: list[bool], window_us: int) -> str:
    """SQL: each person's best ordered path (``person, reached, entered_at, t1..tn,
    e1..en``).

    Every entry takes its step-2 event; the path from there on depends only on that
    event (and the latest event so far), so it is followed once per distinct step-2
    event, without the window, and each entry counts the steps it reaches in a row in its
    own window (path times never decrease)."""
    ctes = [
        "j1 as (select person, ts as t1, k as k1, event_id as e1, k as kmax "
        f"from {_by_time(events, 1)})"
    ]
    if n >= 2:
        ctes.append(f"j2 as ({_next('j1', events, 2, overlaps[1])})")
        ctes.append(
            "g2 as (select distinct person, t2, k2, kmax as key_kmax, kmax from j2 "
            "where t2 is not null)"
        )
    for i in range(3, n + 1):
        ctes.append(f"g{i} as ({_next(f'g{i - 1}', events, i, overlaps[i - 1])})")
    later = [f"g.t{i}, g.e{i}" for i in range(3, n + 1)]
    joined = (
        "select j.person, j.t1, j.k1, j.e1"
        + (", j.t2, j.e2" if n >= 2 else "")
        + "".join(f", {c}" for c in later)
        + (" from j1 j" if n == 1 else f" from j2 j left join g{n} g on g.person = j.person "
           "and g.t2 = j.t2 and g.k2 = j.k2 and g.key_kmax = j.kmax")
    )  # fmt: skip
    end = f"t1 + to_microseconds({window_us}::bigint)"
    reached = "".join(f"when not coalesce(t{i} <= {end}, false) then {i - 1} "
                      for i in range(2, n + 1))  # fmt: skip
    reached = f"case {reached}else {n} end" if n > 1 else "1"
    fields = ", ".join(
        f"t{i} := case when reached >= {i} then t{i} end, "
        f"e{i} := case when reached >= {i} then e{i} end"
        for i in range(1, n + 1)
    )
    times = ", ".join(f"b.t{i}" for i in range(1, n + 1))
    ids = ", ".join(f"b.e{i}" for i in range(1, n + 1))
    return f"""
with {", ".join(ctes)},
paths as ({joined}),
scored as (select *, {reached} as reached from paths),
best as (
    select person,
        arg_max(struct_pack(reached := reached, {fields}),
                reached::hugeint * {REACH_SHIFT}::hugeint - k1) as b
    from scored
    group by person
)
select person, b.reached as reached, b.t1 as entered_at, {times}, {ids}
from best"""


def any_order_paths(events: str, n: int, window_us: int) -> str:
    """SQL: each person's best unordered path (same columns; ``t{i}`` is when steps
    1..i were all done)."""
    joins, picks = [], []
    for i in range(1, n + 1):
        joins.append(
            f"asof left join {_by_time(events, i)} r{i} "
            f"on s.person = r{i}.person and r{i}.ts >= s.ts"
        )
        ok = f"r{i}.ts <= s.ts + to_microseconds({window_us}::bigint)"
        picks.append(f"case when {ok} then r{i}.ts end as u{i}, case when {ok} then "
                     f"r{i}.event_id end as e{i}")  # fmt: skip
    lead = []
    for i in range(1, n + 1):
        done = " and ".join(f"u{j} is not null" for j in range(1, i + 1))
        lead.append(f"({done})::int")
    times = ", ".join(
        f"case when reached >= {i} then greatest({', '.join(f'u{j}' for j in range(1, i + 1))})"
        f" end as t{i}"
        for i in range(1, n + 1)
    )
    ids = ", ".join(f"case when reached >= {i} then e{i} end as e{i}" for i in range(1, n + 1))
    # the first of the steps reached (a later step done earlier does not count)
    entered = "least(" + ", ".join(f"case when reached >= {i} then u{i} end"
                                   for i in range(1, n + 1)) + ")"  # fmt: skip
    return f"""
with starts as (select distinct person, ts from {events}),
picked as (select s.person, s.ts as start, {", ".join(picks)} from starts s {" ".join(joins)}),
scored as (select *, {" + ".join(lead)} as reached from picked)
select person, reached, {entered} as entered_at, {times}, {ids}
from scored
where reached > 0
qualify row_number() over (partition by person order by reached desc, start) = 1"""


def person_paths(
    conn: duckdb.DuckDBPyConnection,
    steps: Sequence[Step],
    column_types: dict[str, str],
    *,
    window: dt.timedelta,
    since: dt.datetime | None,
    until: dt.datetime | None,
    order: str,
    table: str,
    people: str,
) -> None:
    """Temp table ``table``: one row per person who reached step 1 (``reached`` >= 1)
    with the time (``t{i}``) and event (``e{i}``) of each step reached; ``people`` is
    the ``person_source``."""
    events = f"{table}_events"
    overlaps = build_events(conn, events, steps, column_types, since, until, people)
    window_us = int(window.total_seconds() * 1_000_000)
    try:
        query = (
            strict_paths(events, len(steps), overlaps, window_us)
            if order == "strict"
            else any_order_paths(events, len(steps), window_us)
        )
        conn.execute(f"create or replace temp table {table} as {query}")
        conn.execute(f"delete from {table} where reached = 0")
    finally:
        conn.execute(f"drop table if exists {events}")
