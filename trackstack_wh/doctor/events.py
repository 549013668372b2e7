"""Doctor checks of what arrived: anything ingested at all, the events each destination is
configured for, page hosts against ``workspace.allowed_domains``, the browser SDK,
identify records, and the funnel stages (PageView, SignUp, Purchase above all)."""

from __future__ import annotations

import json

import polars as pl

from trackstack_wh.config import KeyKind
from trackstack_wh.config.checks import DOMAIN
from trackstack_wh.contract import FUNNEL_STAGES
from trackstack_wh.db import query_frame
from trackstack_wh.destinations.mapping import platform_event_name
from trackstack_wh.destinations.routing import DOMAIN_OK, HOST
from trackstack_wh.doctor.report import FAIL, OK, WARN, Check
from trackstack_wh.doctor.scope import INGEST_FIX, NOTHING_YET, Scope
from trackstack_wh.doctor.setup import config_name, no_destination
from trackstack_wh.enrich import staleness
from trackstack_wh.payloads.inspect import existing_tables

CORE_EVENTS = ("PageView", "SignUp", "Purchase")
"""The events every TrackStack setup captures (checklist: capture SignUp/Purchase/PageView)."""
TOP_HOSTS = 5
"""Hosts named in a detail (and added to a suggested ``allowed_domains``)."""
IN_WINDOW = "ts between $since and $until"

SEEN_SQL = f"""
select stage, event_name, count(*)::bigint as events
from events where {IN_WINDOW}
group by all order by stage, event_name
"""

HOSTS_SQL = f"""
with hosts as (
    select page_host as host, count(*)::bigint as events, {DOMAIN_OK} as allowed
    from (select {HOST} as page_host from events
          where {IN_WINDOW} and page_url is not null) e,
        (select $domains::varchar[] as allowed_domains) d
    where nullif(page_host, '') is not null
    group by all
)
select host, events, allowed, count(*) over (partition by allowed) as hosts,
    sum(events) over (partition by allowed)::bigint as all_events
from hosts
qualify row_number() over (partition by allowed order by events desc, host) <= {TOP_HOSTS}
order by allowed, events desc, host
"""

SDK_SQL = f"""
select count(*) filter (e.page_url is not null)::bigint as browser,
    count(*) filter (e.edge_batch_id is not null)::bigint as via_sink,
    count(*) filter (b.key_kind = $publishable)::bigint as via_publishable
from events e
left join (select batch_id, any_value(key_kind) as key_kind from {{batches}} group by 1) b
    on b.batch_id = e.edge_batch_id
where e.{IN_WINDOW}
"""
NO_SINK_BATCHES = "(select null::varchar as batch_id, null::varchar as key_kind where false)"

IDENTIFY_SQL = """
select count(distinct identify_id)::bigint as records,
    count(distinct person_key)::bigint as people,
    count(distinct identify_id) filter (lower(trait) = 'email')::bigint as with_email
from identities where seen_at between $since and $until
"""


def seen_events(scope: Scope) -> pl.DataFrame:
    """Events in the window per stage and name (``stage, event_name, events``)."""
    return query_frame(scope.conn, SEEN_SQL, scope.params)


def warehouse(scope: Scope) -> Check:
    """Something was ingested, quality scores are current and payloads were built."""
    files, events = scope.conn.execute(
        "select (select count(*) from ingest_batches)::bigint, "
        "(select count(*) from events)::bigint"
    ).fetchall()[0]
    if not events:
        loaded = f"{files:,} file(s) ingested but " if files else ""
        return Check("warehouse", WARN, f"{loaded}{NOTHING_YET}", INGEST_FIX)
    detail = f"{events:,} events from {files:,} file(s) or segment(s)"
    stale = staleness(scope.conn)
    if stale is not None:
        fix = "run `trackstack-wh payloads` (it refreshes quality first) or `trackstack-wh run`"
        return Check("warehouse", WARN, f"{detail}; {stale}", fix)
    if not existing_tables(scope.conn):
        fix = "run `trackstack-wh payloads`"
        return Check("warehouse", WARN, f"{detail}; no payload rows built yet", fix)
    return Check("warehouse", OK, f"{detail}; quality scores and payloads up to date")


def expected_events(scope: Scope) -> Check:
    """The events each enabled destination is configured for (its ``events`` allowlist,
    ``event_names`` and conversion action / rule IDs) arrived in the window, and each
    has a platform name or ID."""
    if not scope.enabled():
        return no_destination("expected_events", scope)
    if scope.since is None:
        return Check("expected_events", WARN, NOTHING_YET, INGEST_FIX)
    seen = set(seen_events(scope)["event_name"])
    missing: list[str] = []
    unmapped: list[str] = []
    configured = 0
    for dest in scope.enabled():
        overrides = dict(dest.event_names) | dest.event_ids()
        expected = set(dest.events) if dest.events is not None else set(overrides)
        configured += bool(expected)
        unseen = sorted(expected - seen)
        if unseen:
            missing.append(f"{dest.name}: {', '.join(unseen)}")
        blank = sorted(e for e in expected if platform_event_name(dest.name, e, overrides) is None)
        if blank:
            unmapped.append(f"{dest.name}: {', '.join(blank)}")
    if not configured:
        return Check(
            "expected_events", OK,
            "no destination lists events or conversion IDs: each takes the events its "
            "platform has a name for",
        )  # fmt: skip
    parts = []
    fixes = []
    if missing:
        parts.append(f"configured but not received in {scope.period}: " + "; ".join(missing))
        fixes.append("capture those events (or take them out of the destination's events list)")
    if unmapped:
        parts.append("listed without a platform name or ID: " + "; ".join(unmapped))
        fixes.append("map each in conversion_actions / conversion_rules / event_names")
    if parts:
        return Check("expected_events", WARN, ". ".join(parts), "; ".join(fixes))
    return Check(
        "expected_events", OK,
        f"every event the {configured} destination(s) with an events list or conversion IDs "
        f"expect arrived in {scope.period}",
    )  # fmt: skip


def allowable(host: str) -> bool:
    """A host ``workspace.allowed_domains`` can take: a domain, not an IP or ``localhost``."""
    return DOMAIN.fullmatch(host) is not None and not host.replace(".", "").isdigit()


def toml_domains(patterns: list[str]) -> str:
    """``allowed_domains = ["*.example.com", "app.acme.io"]`` (a TOML line)."""
    return f"allowed_domains = {json.dumps(list(dict.fromkeys(patterns)))}"


def domain_allowlist(scope: Scope) -> Check:
    """Page hosts seen in the window against ``workspace.allowed_domains``: events from a
    host outside it go nowhere (``domain_not_allowed``, judged with the routing's own SQL
    and the config as it is now)."""
    allowed = list(scope.config.allowed_domains)
    where = f"under [workspace] in {config_name(scope)}"
    if scope.since is None:
        fix = INGEST_FIX if allowed else f"set {toml_domains(['app.yourcompany.com'])} {where}"
        return Check("domain_allowlist", WARN, f"{NOTHING_YET}: no page hosts to judge", fix)
    hosts = query_frame(scope.conn, HOSTS_SQL, {**scope.params, "domains": allowed})
    if not allowed:
        seen = hosts["host"].to_list()
        named = ", ".join(f"{h} ({n:,})" for h, n in hosts.select("host", "events").iter_rows())
        suggested = [h for h in seen if allowable(h)] or ["app.yourcompany.com"]
        return Check(
            "domain_allowlist", WARN,
            "workspace.allowed_domains is empty: events from any page host are sent"
            + (f" (hosts seen: {named})" if named else ""),
            f"set {toml_domains(suggested)} {where}",
        )  # fmt: skip
    dropped = hosts.filter(~pl.col("allowed"))
    if dropped.is_empty():
        kept = hosts.filter(pl.col("allowed"))
        if kept.is_empty():
            return Check("domain_allowlist", OK, f"no events with a page URL in {scope.period}")
        total = kept["all_events"][0]
        return Check(
            "domain_allowlist", OK,
            f"every page host in {scope.period} is allowed ({kept['hosts'][0]:,} host(s), "
            f"{total:,} events; {toml_domains(allowed)})",
        )  # fmt: skip
    named = ", ".join(f"{h} ({n:,})" for h, n in dropped.select("host", "events").iter_rows())
    addable = [h for h in dropped["host"] if allowable(h)]
    others = dropped["hosts"][0] - dropped.height
    more = f" and {others:,} more host(s)" if others > 0 else ""
    detail = (
        f"{dropped['all_events'][0]:,} events in {scope.period} are dropped as "
        f"domain_not_allowed: {named}{more}"
    )
    if not addable:
        return Check(
            "domain_allowlist", WARN, f"{detail}; none of these hosts can be allowed",
            "nothing to change for local or test traffic; send real events from your domain",
        )  # fmt: skip
    return Check(
        "domain_allowlist", FAIL, detail,
        f"if these are your sites, set {toml_domains(allowed + addable)} {where}",
    )  # fmt: skip


def sdk_events(scope: Scope) -> Check:
    """Browser events (with a page URL) arrive, and whether through the sink with a
    project's publishable key (the SDK's ``publicKey``)."""
    keys = [
        f"${name}"
        for p in scope.config.projects.values()
        for name in p.key_envs.get(KeyKind.PUBLISHABLE, ())
    ]
    install = (
        f"install the SDK in your pages with publicKey = the value of {keys[0]}"
        if keys
        else "add a project with publishable_key_env, then install the SDK with that key"
    ) + " and point it at `trackstack-wh serve`"
    if scope.since is None:
        return Check("sdk_events", WARN, f"{NOTHING_YET}: no browser event seen", install)
    batches = "sink_batches" if scope.has("sink_batches") else NO_SINK_BATCHES
    browser, via_sink, via_key = scope.conn.execute(
        SDK_SQL.format(batches=batches), {**scope.params, "publishable": KeyKind.PUBLISHABLE.value}
    ).fetchall()[0]
    if not browser:
        return Check(
            "sdk_events", WARN, f"no event with a page URL in {scope.period}: no browser SDK "
            "is capturing", install,
        )  # fmt: skip
    if not via_sink:
        how = "none through the sink (all from files)"
    elif not via_key:
        how = f"{via_sink:,} through the sink, none with a publishable key"
    else:
        how = f"{via_key:,} through the sink with a publishable key"
    return Check("sdk_events", OK, f"{browser:,} browser events in {scope.period}; {how}")


def identify(scope: Scope) -> Check:
    """Identify records (``identify(userId, traits)``) arrived, with an email trait."""
    fix = "call identify(userId, {email, ...}) on every login and sign-up"
    if scope.since is None or not scope.has("identities"):
        return Check("identify", WARN, f"{NOTHING_YET}: no identify record seen", fix)
    records, people, with_email = scope.conn.execute(IDENTIFY_SQL, scope.params).fetchall()[0]
    if not records:
        return Check("identify", WARN, f"no identify record in {scope.period}", fix)
    detail = f"{records:,} identify record(s) for {people:,} people in {scope.period}"
    if not with_email:
        return Check("identify", WARN, f"{detail}, none with an email trait", fix)
    return Check("identify", OK, f"{detail}, {with_email:,} with an email trait")


def events_by_stage(scope: Scope) -> Check:
    """Events per funnel stage in the window; PageView, SignUp and Purchase among them."""
    capture = "capture " + ", ".join(CORE_EVENTS) + " (and each funnel stage's events)"
    if scope.since is None:
        return Check("events_by_stage", WARN, NOTHING_YET, INGEST_FIX)
    seen = seen_events(scope)
    by_stage = dict(seen.group_by("stage").agg(pl.col("events").sum()).iter_rows())
    by_name = dict(seen.select("event_name", "events").iter_rows())
    stages = ", ".join(f"{s} {by_stage.get(s.value, 0):,}" for s in FUNNEL_STAGES)
    outside = sum(n for s, n in by_stage.items() if s not in {st.value for st in FUNNEL_STAGES})
    core = ", ".join(f"{e} {by_name.get(e, 0):,}" for e in CORE_EVENTS)
    detail = f"{stages}; outside the funnel {outside:,}; {core} (in {scope.period})"
    empty = [s.value for s in FUNNEL_STAGES if not by_stage.get(s.value)]
    absent = [e for e in CORE_EVENTS if not by_name.get(e)]
    if empty or absent:
        gaps = [f"no {e}" for e in absent] + [f"nothing at {s}" for s in empty]
        return Check("events_by_stage", WARN, f"{'; '.join(gaps)}: {detail}", capture)
    return Check("events_by_stage", OK, detail)
