"""What a funnel knows about its people: breakdown segments (first-touch channel,
referrer, click source, latest plan and company, or a column of the entry event that
holds no personal data) and the contact details a drop-off list carries (email only
where the person's consent, else the workspace default, allows ad use)."""

from __future__ import annotations

import datetime as dt
from functools import cache

import duckdb

from trackstack_wh.consent import AD_USE_ANSWER
from trackstack_wh.errors import UsageError
from trackstack_wh.reports.funnel import click_source_sql
from trackstack_wh.stitch.groups import PII_SOURCES

PERSON_BREAKDOWNS = ("channel", "referrer", "plan", "company", "click_source")
"""Breakdowns read from all of a person's events; any other ``by`` names an ``events``
column read from the person's step-1 event."""
PERSONAL_COLUMNS = frozenset(
    {c for group, columns in PII_SOURCES.items() if group != "external_id" for c in columns}
    | {"client_ip", "user_agent"}
)
"""``events`` columns holding personal data (email, phone, names, address, gender, birth
date, IP, user agent): never a breakdown, whose values label the funnel's rows."""

REFERRER = r"""coalesce(nullif(regexp_extract(lower(e.referrer),
    '^[a-z][a-z0-9+.-]*://(?:www\.)?([^/:?#]+)', 1), ''), '(direct)')"""

ATTRIBUTES_TEMPLATE = f"""
with ev as (
    select p.person, e.ts, e.event_name,
        coalesce({{click_source}}, case when nullif(trim(e.referrer), '') is not null
            then 'referral' else 'direct' end) as channel,
        {REFERRER} as referrer, {{click_source}} as click_source, e.plan,
        nullif(lower(trim(e.company_domain)), '') as company,
        nullif(lower(trim(e.email)), '') as email, {AD_USE_ANSWER} as ad_use,
        ($since_s is null or e.ts >= to_timestamp($since_s))
            and ($until_s is null or e.ts < to_timestamp($until_s)) as in_range
    from events e
    join {{{{people}}}} p using (event_id)
    where p.person in (select person from {{{{paths}}}})
)
select person,
    arg_min(channel, ts) filter (in_range) as channel,
    arg_min(referrer, ts) filter (in_range) as referrer,
    coalesce(arg_min(click_source, ts) filter (in_range and click_source is not null),
             '(none)') as click_source,
    coalesce(arg_max(plan, ts) filter (in_range and plan is not null), '(none)') as plan,
    coalesce(arg_max(company, ts) filter (in_range and company is not null), '(none)')
        as company,
    arg_max(email, ts) filter (in_range and email is not null) as email,
    arg_max(ad_use, ts) filter (ad_use is not null) as ad_use,
    arg_max(event_name, ts) filter (in_range) as last_event,
    max(ts) filter (in_range) as last_event_at
from ev
group by person
"""
"""Per person of ``{paths}`` (the click source, sql/reports/click_source.sql, is filled in
by `attributes_sql`): breakdown attributes, latest email and their last event,
over their events in ``[since, until)``; and their latest consent answer about ad use
(``ad_use``: granted, denied or NULL) over all their events, so a later refusal counts."""


@cache
def attributes_sql() -> str:
    """`ATTRIBUTES_TEMPLATE` with the click source in place; ``{people}`` and ``{paths}``
    are left to fill (read on first use: loading the package reads no file)."""
    return ATTRIBUTES_TEMPLATE.format(click_source=click_source_sql())


PERSON_AD_USE = "coalesce(a.ad_use, $default_ad_user_data)"
"""A person's ad-use answer (over `attributes_sql` ``a``): their latest, else the workspace
default (``[privacy].default_ad_user_data``, the parameter ``AD_USE`` in
``trackstack_wh.payloads.privacy`` falls back to)."""


def range_params(since: dt.datetime | None, until: dt.datetime | None) -> dict[str, float | None]:
    return {
        "since_s": since.timestamp() if since else None,
        "until_s": until.timestamp() if until else None,
    }


def breakdown_columns(column_types: dict[str, str]) -> list[str]:
    """The ``events`` columns ``by`` may name: comparable ones without personal data."""
    return sorted(c for c in column_types if c not in PERSONAL_COLUMNS)


def check_breakdown(by: str | None, column_types: dict[str, str]) -> None:
    """``by`` is a person breakdown or an ``events`` column without personal data (else
    ``UsageError`` naming the allowed breakdowns)."""
    allowed = breakdown_columns(column_types)
    if by is None or by in PERSON_BREAKDOWNS or by in allowed:
        return
    why = " holds personal data" if by in PERSONAL_COLUMNS else ""
    raise UsageError(
        f"by={by!r}{why}; choose from {', '.join(PERSON_BREAKDOWNS)} or an events column "
        f"({', '.join(allowed)})"
    )


def add_segments(
    conn: duckdb.DuckDBPyConnection,
    paths: str,
    people: str,
    by: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> None:
    """Add ``segment`` (varchar, ``(none)`` when unknown; NULL without ``by``) to the
    paths table."""
    conn.execute(f"alter table {paths} add column segment varchar")
    if by is None:
        return
    if by in PERSON_BREAKDOWNS:
        source = attributes_sql().format(people=people, paths=paths)
        conn.execute(
            f"update {paths} set segment = a.{by} from ({source}) a "
            f"where a.person = {paths}.person",
            range_params(since, until),
        )
    else:
        conn.execute(
            f'update {paths} set segment = cast(e."{by}" as varchar) from events e '
            f"where e.event_id = {paths}.e1"
        )
    conn.execute(f"update {paths} set segment = '(none)' where segment is null")
