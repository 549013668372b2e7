"""PostHog's profile rows, which no event drives: request kind ``identify``.

- One ``$identify`` per identify record (``identities``, grouped by ``identify_id``):
  ``distinct_id`` the record's user ID, ``$set`` its traits as sent, and
  ``$anon_distinct_id`` its anonymous or session ID when that differs, so PostHog merges
  the anonymous session (whose events went out under that ID) into the person. A record
  with no user ID only names a visitor: skipped ``no_user_id``.
- One ``$identify`` per session that went from anonymous to identified in the events
  themselves (`MERGE_SOURCE`), when no identify record said so.
- With ``company_group_type`` set, one ``$groupidentify`` per company (its key the
  lower-case domain, else the name) with ``$group_set`` name and domain, first seen.

Each row is built once (rows already in the table are not read again), set-based; an
incremental build aggregates only the sessions and companies its new events name
(`NEW_ONLY`); a build under other settings rebuilds them like the event rows. Their
``event_seq`` is a negative number derived from the ID, so they never meet an event's
rows.
"""

from __future__ import annotations

from trackstack_wh.payloads.jsonsql import literal_obj, val
from trackstack_wh.payloads.spec import ISO_UTC
from trackstack_wh.people import LINKING_SESSION
from trackstack_wh.timewindow import in_window

LIB = "trackstack_wh"
"""``$lib``: which library captured the event."""
TABLE = "analytics_posthog"


def uuid_of(column: str, namespace: str) -> str:
    """SQL: a UUID (version nibble 5, RFC 4122 variant) from the SHA-1 of ``namespace``
    and the ID in ``column``: the same occurrence always gets the same uuid."""
    return (
        f"regexp_replace(sha1('trackstack/posthog/{namespace}/' || {column}), "
        "'^(.{8})(.{4}).(.{3}).(.{3})(.{12}).*$', '\\1-\\2-5\\3-8\\4-\\5')"
    )


SEQ = "(-1 - (hash(event_id) >> 2)::bigint)"
"""A profile row's ``event_seq``: negative, so no event's (always >= 0) is ever equal."""

IDENTIFY = literal_obj(
    ("event", val("'$identify'")),
    ("distinct_id", val("user_id")),
    ("timestamp", val(ISO_UTC)),
    ("uuid", val("dedup_key")),
    (
        "properties",
        literal_obj(
            ("$anon_distinct_id", val("case when anon_id <> user_id then anon_id end")),
            ("$set", "traits::varchar"),
            ("$lib", val(f"'{LIB}'")),
        ),
    ),
)

IDENTIFY_SOURCE = f"""
select r.*, t.traits
from (
    select identify_id as event_id, '$identify' as platform_event_name,
        nullif(trim(any_value(user_id)), '') as user_id,
        nullif(trim(coalesce(any_value(anonymous_id), any_value(session_id))), '') as anon_id,
        min(seen_at) as ts,
        case when nullif(trim(any_value(user_id)), '') is null then 'no_user_id' end
            as skip_reason
    from identities
    where {in_window("seen_at")}
    group by identify_id
) r
left join (
    select identify_id as event_id, json_group_object(trait, value) as traits
    from identities
    where trait is not null and {in_window("seen_at")}
    group by identify_id
) t using (event_id)"""


NEW_ONLY = """($records_after is null or {key} in (
    select {key} from events where event_seq > $records_after))"""
"""SQL over ``events``: the row's ``{key}`` (a session, a company) is one the events loaded
since the last build (``$records_after``, its last ``event_seq``; NULL: every event)
name, so an incremental build aggregates only the sessions and companies that can gain
a row, not the warehouse."""

MERGE_SOURCE = f"""
with sessions as (
    select {LINKING_SESSION} as anon_id,
        min(nullif(trim(coalesce(external_id, user_id)), '')) as user_id,
        count(distinct nullif(trim(coalesce(external_id, user_id)), '')) as users,
        count(*) filter (where nullif(trim(coalesce(external_id, user_id)), '') is null)
            as anonymous,
        min(ts) filter (where nullif(trim(coalesce(external_id, user_id)), '') is not null)
            as ts
    from events
    where {LINKING_SESSION} is not null and {in_window("ts")}
      and {NEW_ONLY.format(key=LINKING_SESSION)}
    group by 1
)
select 'merge:' || anon_id as event_id, '$identify' as platform_event_name, user_id, anon_id,
    ts, null::json as traits,
    case when users > 1 then 'ambiguous_session' end as skip_reason
from sessions
where user_id is not null and anonymous > 0 and anon_id <> user_id
  and not exists (
    select 1 from identities i
    where nullif(trim(coalesce(i.anonymous_id, i.session_id)), '') = sessions.anon_id
      and nullif(trim(i.user_id), '') = sessions.user_id
  )"""
"""A session whose anonymous events (no user ID: they went out under the session) also
holds an identified one: one ``$identify`` merging it into that user (``merge:<session>``);
a session that names two users (a shared device) merges nobody: ``ambiguous_session``."""


GROUP_KEY = "coalesce(nullif(lower(trim(company_domain)), ''), nullif(trim(company_name), ''))"
GROUP_IDENTIFY = literal_obj(
    ("event", val("'$groupidentify'")),
    ("distinct_id", val("'$' || $company_group_type || '_' || group_key")),
    ("timestamp", val(ISO_UTC)),
    ("uuid", val("dedup_key")),
    (
        "properties",
        literal_obj(
            ("$group_type", val("$company_group_type")),
            ("$group_key", val("group_key")),
            (
                "$group_set",
                literal_obj(("name", val("company_name")), ("domain", val("company_domain"))),
            ),
            ("$lib", val(f"'{LIB}'")),
        ),
    ),
)

GROUP_SOURCE = f"""
select 'group:' || $company_group_type || ':' || group_key as event_id,
    '$groupidentify' as platform_event_name, group_key,
    arg_min(company_name, ts) filter (where company_name is not null) as company_name,
    arg_min(lower(trim(company_domain)), ts) filter (where company_domain is not null)
        as company_domain,
    min(ts) as ts, null::varchar as skip_reason
from (select *, {GROUP_KEY} as group_key from events where {in_window("ts")})
where group_key is not null and {NEW_ONLY.format(key=GROUP_KEY)}
group by group_key"""


def _insert(source: str, payload: str, namespace: str) -> str:
    """The INSERT of ``source``'s rows (``event_id``, ``platform_event_name``, ``ts``,
    ``skip_reason`` and what ``payload`` reads) that the table does not hold yet; the
    dedup key is the row's uuid."""
    return f"""
insert into {TABLE} by name
select event_id, 'posthog' as destination, 'identify' as request_kind, platform_event_name,
    dedup_key, ts as event_time, status, skip_reason, null::varchar as duplicate_of,
    []::varchar[] as warnings,
    case when status = 'ready' then ({payload})::json end as payload,
    $settings_hash as settings_hash, to_timestamp($as_of_s) as built_at,
    {SEQ} as event_seq, null::json as key_sources
from (
    select *, case when skip_reason is null then 'ready' else 'skipped' end as status,
        {uuid_of("event_id", namespace)} as dedup_key
    from ({source}) s
    where not exists (
        select 1 from {TABLE} p where p.request_kind = 'identify' and p.event_id = s.event_id
    )
)"""


def records_sql(*, persons: bool, groups: bool) -> tuple[str, ...]:
    """The INSERTs of the profile rows the settings ask for."""
    out = []
    if persons:
        out.append(_insert(IDENTIFY_SOURCE, IDENTIFY, "identify"))
        out.append(_insert(MERGE_SOURCE, IDENTIFY, "merge"))
    if groups:
        out.append(_insert(GROUP_SOURCE, GROUP_IDENTIFY, "group"))
    return tuple(out)
