"""Explainable 0-10 quality score per event, and which match keys each platform can use.

Score components (points; the sum is the score):

- identity, up to 6.5: usable email 2, phone 1, a click ID 1.5, external ID 1,
  IP + user agent 0.5, full name with a location (zip or city) and country 0.5;
- contract, up to 1.5: a canonical event (extensions have no required fields) 1, its
  recommended fields present (pageUrl on page views) 0.5;
- revenue, 1: revenue events carry a positive value and a currency (others get the point);
- uniqueness, 1: not a suppressed copy for any destination (see `trackstack_wh.dedup`).

Low-quality events still route; they carry warnings (seed 003), as do ``platformParams``
keys that are unknown, invalid or ignored (`trackstack_wh.destinations.overrides`).
"""

from __future__ import annotations

from functools import cache

import duckdb

from trackstack_wh.contract import CLICK_ID_FIELDS, Family
from trackstack_wh.dedup import DEDUP_REASONS
from trackstack_wh.destinations.overrides import warnings_sql as param_warnings_sql
from trackstack_wh.errors import UsageError
from trackstack_wh.identity.rules import PLATFORMS, Key
from trackstack_wh.identity.sql import PLAIN_KEYS
from trackstack_wh.sql import lit

LOW_QUALITY_BELOW = 4.0
"""Events scoring under this get the ``low_quality`` warning."""

COMPONENT_POINTS: dict[str, float] = {
    "email": 2.0,
    "phone": 1.0,
    "click_id": 1.5,
    "external_id": 1.0,
    "ip_user_agent": 0.5,
    "name_location": 0.5,
    "canonical": 1.0,
    "recommended_fields": 0.5,
    "revenue_fields": 1.0,
    "unique": 1.0,
}
"""Maximum points per component; they add up to 10."""

_CLICK_COLUMNS = tuple(f.column for f in CLICK_ID_FIELDS)


def _key_column(key: Key, hashed: bool) -> str:
    return f"i.{key}_sha256" if hashed or key not in PLAIN_KEYS else f"i.{key}"


def _presence_columns() -> list[str]:
    """Every column whose presence decides a platform's match keys (one bit each)."""
    columns = [_key_column(m.key, m.hashed) for p in PLATFORMS.values() for m in p.keys]
    columns += [f"e.{c}" for p in PLATFORMS.values() for c in p.click_ids]
    return list(dict.fromkeys(columns))


def _key_bits_sql(table: str) -> str:
    """The bits of the ``key_pattern`` bitmask that ``table`` (``e`` for events, ``i`` for
    event_identity) decides: one per match-key column it holds, and for events one for
    IP + user agent. ``key_pattern`` is the two ORed (few distinct values)."""
    columns = _presence_columns()
    bits = [
        f"(({c} is not null)::bigint << {i})"
        for i, c in enumerate(columns)
        if c.startswith(f"{table}.")
    ]
    if table == "e":
        bits.append(
            f"((e.client_ip is not null and e.user_agent is not null)::bigint << {len(columns)})"
        )
    return " | ".join(bits)


def _match_keys_sql() -> str:
    """Per platform, the list of its match keys a ``key_pattern`` can fill."""
    bit = {c: i for i, c in enumerate(_presence_columns())}
    ip_bit = len(bit)

    def has(b: int) -> str:
        return f"(key_pattern >> {b}) & 1 = 1"

    per_platform = []
    for name, platform in PLATFORMS.items():
        items = [
            f"case when {has(bit[_key_column(m.key, m.hashed)])} then '{m.name}' end"
            for m in platform.keys
        ]
        items += [f"case when {has(bit['e.' + c])} then '{c}' end" for c in platform.click_ids]
        if platform.uses_ip_and_user_agent:
            items.append(f"case when {has(ip_bit)} then 'ip_user_agent' end")
        per_platform.append(f"'{name}': list_filter([{', '.join(items)}], lambda k: k is not null)")
    return "{" + ", ".join(per_platform) + "}"


@cache
def quality_sql(
    events: str = "events", identity: str = "event_identity", stitch: str = "event_stitch"
) -> str:
    """SELECT of one ``event_quality`` row per row of ``events`` (a relation with the
    columns of ``events``), from its rows in ``identity``, ``destination_dedup`` and
    ``stitch`` (``score_stitched``: the score plus the points its stitched keys add)."""
    p = COMPONENT_POINTS
    any_click = " or ".join(f"e.{c} is not null" for c in _CLICK_COLUMNS)
    components = {
        "email": f"case when i.has_email then {p['email']} else 0 end",
        "phone": f"case when i.has_phone then {p['phone']} else 0 end",
        "click_id": f"case when e.has_click_id then {p['click_id']} else 0 end",
        "external_id": f"case when i.has_external_id then {p['external_id']} else 0 end",
        "ip_user_agent": f"case when e.has_ip_user_agent then {p['ip_user_agent']} else 0 end",
        "name_location": f"case when i.has_name_location then {p['name_location']} else 0 end",
        "canonical": f"case when e.is_canonical then {p['canonical']} else 0 end",
        "recommended_fields": (
            f"case when c.family = '{Family.PAGE_VIEW.value}' and e.no_page_url then 0 "
            f"else {p['recommended_fields']} end"
        ),
        "revenue_fields": (
            f"case when c.family in ('{Family.PURCHASE.value}', '{Family.REFUND.value}') "
            f"and not e.has_revenue then 0 else {p['revenue_fields']} end"
        ),
        "unique": f"case when d.event_id is not null then 0 else {p['unique']} end",
    }
    struct = ", ".join(f"'{k}': ({v})::double" for k, v in components.items())
    score = " + ".join(f"components.{k}" for k in components)
    # Both sides are reduced to flags before the join: a 10M-event join of the full rows
    # spilled 8 GB to disk under a 1 GB memory limit.
    return f"""
with event_flags as (
    select e.event_id, e.event_seq, e.event_name, e.stage, e.is_canonical,
        {_key_bits_sql("e")} as key_bits,
        ({any_click}) as has_click_id,
        (e.client_ip is not null and e.user_agent is not null) as has_ip_user_agent,
        e.page_url is null as no_page_url,
        coalesce(e.value > 0 and e.currency is not null, false) as has_revenue,
        {param_warnings_sql("e.platform_params")} as param_warnings
    from {events} e
), identity_flags as (
    select i.event_id, {_key_bits_sql("i")} as key_bits,
        i.email_sha256 is not null as has_email,
        i.phone_e164_sha256 is not null as has_phone,
        i.external_id_sha256 is not null as has_external_id,
        (i.first_name_sha256 is not null and i.last_name_sha256 is not null
            and (i.zip_sha256 is not null or i.city_sha256 is not null)
            and i.country_sha256 is not null) as has_name_location,
        i.identity_issues
    from {identity} i
), scored as (
    select e.event_id, e.event_seq, e.event_name, e.stage, e.is_canonical,
        c.routes_ads, c.routes_crm,
        {{{struct}}} as components,
        e.key_bits | coalesce(i.key_bits, 0) as key_pattern,
        i.identity_issues,
        d.reasons as dedup_reasons,
        e.param_warnings,
        c.family
    from event_flags e
    left join canonical_events c using (event_name)
    left join identity_flags i using (event_id)
    left join (
        select event_id, list_distinct(list(reason)) as reasons
        from destination_dedup group by event_id
    ) d using (event_id)
)
select event_id, event_name, stage,
    round({score}, 2) as score,
    components, key_pattern,
    list_sort(list_distinct(
        list_filter(
            [
                case when {score} < {LOW_QUALITY_BELOW} then 'low_quality' end,
                case when components.email + components.phone + components.click_id
                    + components.external_id = 0 then 'no_strong_match_keys' end,
                case when not is_canonical then 'extension_event' end,
                case when components.recommended_fields = 0
                    then 'missing_recommended:pageUrl' end,
                case when components.revenue_fields = 0 then 'revenue_without_value' end
            ],
            lambda w: w is not null
        ) || coalesce(identity_issues, []) || coalesce(dedup_reasons, []) || param_warnings
    )) as warnings,
    event_seq,
    round({score} + coalesce(s.score_gain, 0), 2) as score_stitched
from scored q
left join (
    select event_id as stitched_event_id, score_gain from {stitch}
) s on s.stitched_event_id = q.event_id"""


def build_event_quality(conn: duckdb.DuckDBPyConnection) -> None:
    """(Re)build ``event_quality`` from events, identity and dedup decisions, and
    ``match_key_patterns``: per distinct ``key_pattern``, each platform's usable keys.

    View ``event_match_keys`` gives the match keys per event (``event_id, match_keys``).
    """
    conn.execute(f"create or replace table event_quality as {quality_sql()}")
    conn.execute(
        "create or replace table match_key_patterns as "
        f"select key_pattern, {_match_keys_sql()} as match_keys "
        "from (select distinct key_pattern from event_quality)"
    )
    conn.execute(
        "create or replace view event_match_keys as select q.event_id, p.match_keys "
        "from event_quality q join match_key_patterns p using (key_pattern)"
    )


def score_new_events(conn: duckdb.DuckDBPyConnection, events: str, identity: str) -> None:
    """Score the new events of relation ``events`` from their rows in relation
    ``identity``; patterns not seen before join ``match_key_patterns``."""
    stitch = f"event_stitch where event_seq in (select event_seq from {events})"
    conn.execute(
        f"create or replace temp table scored_new as {quality_sql(events, identity, stitch)}"
    )
    try:
        conn.execute("insert into event_quality from scored_new")
        conn.execute(
            f"insert into match_key_patterns select key_pattern, {_match_keys_sql()} "
            "from (select distinct key_pattern from scored_new) "
            "where key_pattern not in (select key_pattern from match_key_patterns)"
        )
    finally:
        conn.execute("drop table if exists temp.scored_new")


def rejudge_uniqueness(conn: duckdb.DuckDBPyConnection, changed: str) -> None:
    """The scored events of relation ``changed`` (``event_id, event_seq``) whose dedup
    decision changed: their uniqueness point, score and warnings follow the decision now
    in ``destination_dedup`` (nothing else they are scored on changed)."""
    fields = ", ".join(
        f'"{name}" := ' + ("n.new_unique" if name == "unique" else f"q.components.{name}")
        for name in COMPONENT_POINTS
    )
    new_score = "round(q.score - q.components.unique + n.new_unique, 2)"
    new_stitched = "round(q.score_stitched - q.components.unique + n.new_unique, 2)"
    reasons = ", ".join(lit(r) for r in DEDUP_REASONS)
    conn.execute(
        f"""
update event_quality q set
    components = struct_pack({fields}),
    score = {new_score},
    score_stitched = {new_stitched},
    warnings = list_sort(list_distinct(
        list_filter(q.warnings, lambda w: w <> 'low_quality' and w not in ({reasons}))
        || case when {new_score} < {LOW_QUALITY_BELOW} then ['low_quality'] else [] end
        || coalesce(n.reasons, [])))
from (
    select c.event_id, c.event_seq, d.reasons,
        (case when d.reasons is null then {COMPONENT_POINTS["unique"]} else 0 end)::double
            as new_unique
    from {changed} c
    left join (
        select event_id, list_distinct(list(reason)) as reasons from destination_dedup
        where event_id in (select event_id from {changed}) group by event_id
    ) d using (event_id)
) n
where q.event_seq = n.event_seq and q.event_id = n.event_id"""
    )


def rescore_stitched(conn: duckdb.DuckDBPyConnection, changed: str) -> None:
    """The scored events of relation ``changed`` (``event_id, event_seq``) whose stitched
    keys changed: ``score_stitched`` follows their ``event_stitch`` row now."""
    conn.execute(
        f"""
update event_quality q set score_stitched = n.score_stitched
from (
    select q.event_id, round(q.score + coalesce(s.score_gain, 0), 2) as score_stitched
    from (select * from event_quality
          where event_seq in (select event_seq from {changed})) q
    left join (select * from event_stitch
               where event_seq in (select event_seq from {changed})) s using (event_id)
) n
where q.event_id = n.event_id and q.event_seq in (select event_seq from {changed})"""
    )


SUMMARY_GROUPS = ("event_name", "stage", "destination")


def quality_summary_sql(by: str) -> str:
    """Per ``by`` (event_name, stage or destination): counts, mean score, warning shares."""
    if by not in SUMMARY_GROUPS:
        raise UsageError(f"quality_summary(by=...) takes one of {SUMMARY_GROUPS}, not {by!r}")
    if by == "destination":
        per_destination = "\n    union all\n    ".join(
            f"select q.event_id, '{name}' as destination, p.match_keys.{name} as keys, q.score "
            "from event_quality q join canonical_events c using (event_name) "
            "join match_key_patterns p using (key_pattern) where c.routes_ads"
            for name in PLATFORMS
        )
        return f"""
with per_destination as (
    {per_destination}
)
select p.destination, count(*) as events,
    round(avg(p.score), 2) as mean_score,
    round(avg((len(p.keys) > 0)::int), 4) as share_with_match_keys,
    round(avg(len(p.keys)), 2) as mean_match_keys,
    count(d.event_id) as suppressed_duplicates
from per_destination p
left join destination_dedup d on d.event_id = p.event_id and d.destination = p.destination
group by p.destination
order by p.destination"""
    return f"""
select {by}, count(*) as events,
    round(avg(score), 2) as mean_score,
    round(quantile_cont(score, 0.1), 2) as p10_score,
    round(avg((score < {LOW_QUALITY_BELOW})::int), 4) as share_low_quality,
    round(avg((list_contains(warnings, 'no_strong_match_keys'))::int), 4) as share_no_match_keys,
    round(avg((components.email > 0)::int), 4) as share_email,
    round(avg((components.phone > 0)::int), 4) as share_phone,
    round(avg((components.click_id > 0)::int), 4) as share_click_id
from event_quality
group by {by}
order by events desc"""
