"""Build the per-destination payload tables, set-based and incrementally.

``build_payloads`` stores the routing rules (``routed_events_in``), then for each
enabled destination inserts one row per (routed event, request kind) not built yet, in
parts of about `PART_EVENTS` events (ranges of ``event_seq``): status
``ready``, ``skipped`` (first failing gate in ``skip_reason``) or ``duplicate`` (the
earlier copy in ``duplicate_of``), the exact JSON payload and a ``settings_hash``. Rows
built under other settings (config, value unit, default currency, identity rules) are
rebuilt. Gates are judged at ``as_of`` (default now), stored as ``built_at``, so
rebuilding with the same ``as_of`` reproduces every row exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import json
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache

import duckdb

from trackstack_wh.config import AD_DESTINATIONS, Destination, WorkspaceConfig
from trackstack_wh.db import create_currency_table, has_table, transaction
from trackstack_wh.destinations import overrides
from trackstack_wh.destinations.routing import build_event_routes, in_part
from trackstack_wh.errors import UsageError
from trackstack_wh.identity.rules import RULES_VERSION
from trackstack_wh.payloads import increments, privacy, stitched
from trackstack_wh.payloads.registry import payload_spec
from trackstack_wh.payloads.spec import (
    AD_GATES,
    AGE_GATES,
    PayloadKind,
    PayloadSpec,
    major_units,
)
from trackstack_wh.sql import lit
from trackstack_wh.timewindow import TimeWindow, in_window, window_params

PAYLOAD_VERSION = "2026-12-v5"
"""Bumped when a builder's output changes, so existing rows are rebuilt."""

TABLE_DDL = """
create sequence if not exists payload_built_seq;
create table if not exists {table} (
    event_id varchar not null using compression zstd,
    destination varchar not null,
    request_kind varchar not null,
    platform_event_name varchar,
    dedup_key varchar using compression zstd,
    event_time timestamptz not null,
    status varchar not null,
    skip_reason varchar,
    duplicate_of varchar,
    warnings varchar[] not null,
    payload json using compression zstd,
    settings_hash varchar not null,
    built_at timestamptz not null,
    event_seq bigint,
    built_seq bigint default nextval('payload_built_seq')
);
alter table {table} add column if not exists event_seq bigint;
alter table {table} add column if not exists built_seq bigint default nextval('payload_built_seq');
alter table {table} add column if not exists key_sources json;
alter table {table} add column if not exists overrides json;
"""
"""One destination's payload table. The IDs and the JSON are stored with ZSTD: FSST and
dictionary analysis of a million distinct strings cost twice the time and give a file
twice the size (measured on 307k TikTok payloads: 0.74 s / 80 MB vs 1.63 s / 150 MB).
``event_seq`` is the event's (`in_part`); tables built before it existed gain the column
and, their rows being stale (no ``event_seq``), are rebuilt with it. ``built_seq`` numbers
the rows in the order they were written (new or rebuilt), so a push can tell the rows
written since its last run (`trackstack_wh.delivery.cursor`)."""


VALUE_OVERRIDE = overrides.dynamic_override("value", "$destination", "e.platform_params")
VALUE = f"coalesce({VALUE_OVERRIDE}, e.value)"
"""The event's value, or its ``platformParams.<destination>.value`` (same unit)."""
CURRENCY_OR_DEFAULT = (
    f"coalesce({overrides.dynamic_override('currency', '$destination', 'e.platform_params')}, "
    "upper(e.currency), $default_currency)"
)
"""The event's currency (or its ``platformParams.<destination>.currency``), else
``workspace.default_currency`` (NULL when none): ``src.currency`` for every builder and
gate, and the exponent of ``value_major``."""

IN_AGE = " and ".join(f"not coalesce({cond}, false)" for _, cond in AGE_GATES)
"""SQL: an event passes the age gates."""

ALL_IDENTITIES = f"from event_identity where {in_part()}"
KEPT_IDENTITIES = f"""{ALL_IDENTITIES} and event_id in (
    select event_id from events where {in_part()} and {IN_AGE} and {in_window("ts")}
)"""
"""Identity rows of the events the age gates keep: a backfill skips most Meta and Reddit
rows as too old, and their identity rows would be most of the join."""

KEPT_SHARE_SQL = f"""
select coalesce(avg(({IN_AGE})::int), 1) from events
where {in_window("ts")}"""
"""Share of the build's events that pass the age gates."""

SOURCE_SQL = f"""
with src as (
    select e.* exclude (reason, destination, currency, value,
            {", ".join(stitched.EVENT_COLUMNS)}),
        d.duplicate_of,
        {VALUE} as value,
        {CURRENCY_OR_DEFAULT} as currency,
        {{source_columns}},
        {{stitch_sources}} as stitch_sources,
        cx.exponent, {major_units(VALUE)} as value_major,
        to_timestamp($as_of_s) as as_of
    from {{routed}}($part_lo, $part_hi, $from_s, $to_s) e
    left join ({{identity}}) i on i.event_id = e.event_id
    {{stitch_join}}
    left join destination_dedup d on d.event_id = e.event_id and d.destination = $destination
    left join currency_exponents cx on cx.code = {CURRENCY_OR_DEFAULT}
    where e.destination = $destination and e.reason is null and {{unbuilt}}
)
"""


UNBUILT = f"""not exists (
    select 1 from {{table}} p where p.event_id = e.event_id and {in_part("p.event_seq")}
)"""
"""SQL: the event has no rows in the payload table yet."""


@dataclass(frozen=True)
class BuildResult:
    """What one destination's build did."""

    destination: str
    table: str
    inserted: int
    rebuilt: int
    seconds: float


def _kind_select(spec: PayloadSpec, kind: PayloadKind) -> str:
    gates = (AGE_GATES + (AD_GATES if spec.ad_platform else ())) + kind.gates
    skip = "case " + " ".join(f"when {cond} then {lit(reason)}" for reason, cond in gates) + " end"
    warnings = ", ".join(f"case when {cond} then {lit(w)} end" for w, cond in kind.warnings)
    warning_list = f"list_filter([{warnings}], lambda w: w is not null)" if warnings else "[]"
    duplicate_of = "duplicate_of" if kind.drop_duplicates else "null::varchar"
    # The payload JSON is built only for rows that will be sent (a backfill skips most
    # rows as too old, and their JSON would be most of the work).
    return f"""
select event_id, $destination as destination, {lit(kind.name)} as request_kind,
    {kind.event_name} as platform_event_name, ({kind.dedup_key})::varchar as dedup_key,
    ts as event_time, status, case when status = 'skipped' then skip_reason end as skip_reason,
    {duplicate_of} as duplicate_of, {warning_list}::varchar[] as warnings,
    case when status = 'ready' then ({kind.payload})::json end as payload,
    $settings_hash as settings_hash, as_of as built_at, event_seq,
    case when status = 'ready' then {stitched.key_sources(spec.destination)} end as key_sources,
    case when status = 'ready' then {overrides.applied_sql(spec.destination)} end as overrides
from (
    select *, case when {duplicate_of} is not null then 'duplicate'
        when skip_reason is not null then 'skipped' else 'ready' end as status
    from (select *, {skip} as skip_reason from src {kind.joins} where {kind.where})
)"""


STITCH_JOIN = f"left join (from event_stitch where {in_part()}) s on s.event_id = e.event_id"


def payload_sql(
    spec: PayloadSpec,
    *,
    groups: tuple[str, ...] = (),
    kept_identities: bool = False,
    changed: bool = False,
) -> str:
    """The INSERT that builds a destination's missing rows, taking the stitched keys of
    ``groups`` (`stitched.stitched_groups`; none: no stitched keys are joined), joining
    the identity rows of only the events the age gates keep when ``kept_identities`` (the
    rows are the same), or the rows of the events copied aside by
    `increments.ChangedEvents` when ``changed`` (their rows were deleted first)."""
    selects = "\nunion all\n".join(_kind_select(spec, k) for k in spec.kinds)
    identity = KEPT_IDENTITIES if kept_identities else ALL_IDENTITIES
    routed, unbuilt = "routed_events_in", UNBUILT.format(table=spec.table)
    if changed:  # their rows were deleted first
        identity = f"from {increments.CHANGED_IDENTITY} where {in_part()}"
        routed, unbuilt = increments.ROUTED_CHANGED, "true"
    source = SOURCE_SQL.format(
        identity=identity,
        routed=routed,
        unbuilt=unbuilt,
        source_columns=stitched.source_columns(groups),
        stitch_sources=stitched.GROUP_SOURCES if groups else "null::json[]",
        stitch_join=STITCH_JOIN if groups else "",
    )
    return f"insert into {spec.table} by name\n{source}\n{selects}"


def settings_hash(dest: Destination, config: WorkspaceConfig, phone_region: str | None) -> str:
    """Fingerprint of everything a destination's rows depend on besides the events."""
    settings = {
        "destination": dest.name,
        "events": dest.events,
        "event_names": dest.event_names,
        "settings": dest.account_settings(),
        "value_unit": config.value_unit,
        "default_currency": config.default_currency,
        "phone_region": phone_region,
        "stitching": dest.stitch_classes(),
        "rules": RULES_VERSION,
        "payloads": PAYLOAD_VERSION,
    }
    if dest.name in AD_DESTINATIONS:
        settings["privacy"] = config.privacy.fingerprint()
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _bind(sql: str, params: dict[str, object]) -> dict[str, object]:
    """Only the parameters the statement uses (DuckDB rejects extra names)."""
    used = set(re.findall(r"\$([a-z_][a-z0-9_]*)", sql))
    return {k: v for k, v in params.items() if k in used}


def build_payloads(
    conn: duckdb.DuckDBPyConnection,
    config: WorkspaceConfig,
    *,
    as_of: dt.datetime | None = None,
    phone_region: str | None = None,
    rebuild: bool = False,
    destinations: Iterable[str] | None = None,
    window: TimeWindow | None = None,
    route: bool = True,
) -> list[BuildResult]:
    """Route events, then build each enabled destination's payload table (its own
    transactions, so one destination's failure leaves the others built; a build cut
    short is finished by the next one, which only adds missing rows).

    Needs ``event_identity`` and ``destination_dedup`` (``refresh_quality``) first.
    ``destinations`` limits the build (default: every enabled one); ``window`` limits it
    to events with ``start <= ts < end`` (a day partition), stale rows and ``rebuild``
    included; ``route=False`` reuses ``event_routes`` as last built (if there is one).
    """
    as_of = as_of or dt.datetime.now(dt.UTC)
    if as_of.tzinfo is None:
        raise UsageError("as_of must be timezone-aware (e.g. datetime.now(timezone.utc))")
    chosen = config.enabled()
    if destinations is not None:
        names = set(destinations)
        chosen = [d for d in chosen if d.name in names]
    create_currency_table(conn)
    if route or not has_table(conn, "route_rules"):
        build_event_routes(conn, config)
    parts = cache(lambda: build_parts(conn, window))
    changed = increments.ChangedEvents(conn, config)
    try:
        results = [
            _build_destination(
                conn, config, dest, as_of, phone_region, rebuild, window, parts, changed
            )  # fmt: skip
            for dest in chosen
        ]
    finally:
        changed.drop()
    increments.prune_changes(conn, [d.name for d in config.enabled()])
    return results


KEPT_IDENTITIES_BELOW = 0.5
"""Join only the kept events' identities when the age gates keep less than this share
(measured: the semi-join saves 20-30% on Meta's 7-day limit over 60 days of events and
costs as much on Google's 90 days)."""

PART_EVENTS = 1_000_000
"""Events per INSERT: a larger build is cut into parts of about this many events (ranges
of ``event_seq``), each committed on its own, so memory stays bounded (DuckDB holds a
transaction's new rows in memory, and a 10M-event build ran out of a 1 GB limit in one
statement). Each part reads only its own row groups of events, identities and payloads,
so a build's time grows with the events, not with the events times the parts."""

Part = dict[str, int | None]
"""``$part_lo`` / ``$part_hi`` of one part: ``part_lo <= event_seq < part_hi``, None open."""


def build_parts(
    conn: duckdb.DuckDBPyConnection, window: TimeWindow | None, above: int | None = None
) -> list[Part]:
    """The parts of about `PART_EVENTS` events a build of ``window`` (all events when
    None), of the events with ``event_seq`` above ``above`` when given, is cut into:
    consecutive ``event_seq`` ranges, cut at approximate quantiles, the last open and the
    first open (or starting above ``above``), so that every event is in exactly one."""
    lo = None if above is None else above + 1
    params = {**window_params(window), "part_lo": lo, "part_hi": None}
    where = f"{in_window('ts')} and {in_part()}"
    count = conn.execute(f"select count(*) from events where {where}", params).fetchall()[0][0]
    parts = math.ceil(count / PART_EVENTS)
    cuts: list[int] = []
    if parts > 1:
        quantiles = [k / parts for k in range(1, parts)]
        query = f"select approx_quantile(event_seq, $quantiles::float[]) from events where {where}"
        cuts = sorted(set(conn.execute(query, {**params, "quantiles": quantiles}).fetchall()[0][0]))
    bounds = [lo, *cuts, None]
    return [{"part_lo": a, "part_hi": b} for a, b in itertools.pairwise(bounds)]


def _build_destination(
    conn: duckdb.DuckDBPyConnection,
    config: WorkspaceConfig,
    dest: Destination,
    as_of: dt.datetime,
    phone_region: str | None,
    rebuild: bool,
    window: TimeWindow | None,
    whole_parts: Callable[[], list[Part]],
    changed: increments.ChangedEvents,
) -> BuildResult:
    """One destination's build: stale rows (and the rows of events whose dedup decision
    changed) deleted in one transaction, then the missing rows inserted one part per
    transaction. After a whole build under the same settings, only the events loaded
    since and the changed ones are read (`increments`)."""
    spec = payload_spec(dest)
    groups = stitched.stitched_groups(dest)
    started = time.perf_counter()
    digest = settings_hash(dest, config, phone_region)
    max_age = dest.max_event_age_days or spec.max_age_days
    params = {
        "destination": dest.name,
        "value_unit": config.value_unit,
        "default_currency": config.default_currency,
        "as_of_s": as_of.timestamp(),
        "max_age_s": None if max_age is None else float(max_age) * 86400,
        "future_s": spec.future_seconds,
        "settings_hash": digest,
        **stitched.stitch_params(dest),
        **privacy.privacy_params(config),
        **window_params(window),
        **spec.params,
    }
    top, quality_run = increments.build_marks(conn)
    last = increments.last_build(conn, dest.name)
    whole = window is None
    incremental = whole and not rebuild and last is not None and last.settings_hash == digest
    with transaction(conn):
        conn.execute(TABLE_DDL.format(table=spec.table))
        changed.collect(last.quality_run if last else 0)
        if incremental and last is not None and last.through_seq is not None:
            drops = [k.name for k in spec.kinds if k.drop_duplicates]
            rebuilt = changed.mark_duplicates(spec.table, dest.name, drops)
            changed.prepare_rebuild(
                spec.table,
                dest.name,
                refunds=any(k.joins for k in spec.kinds),
                stitches=bool(dest.stitch_classes()),
            )
            rebuilt += increments.delete_rows_of(conn, spec.table, increments.REBUILD)
            lo = increments.lowest_seq(conn, increments.REBUILD)
            steps = [
                (payload_sql(spec, groups=groups), part)
                for part in build_parts(conn, None, last.through_seq)
            ]
            if lo is not None and lo <= last.through_seq:
                old: Part = {"part_lo": lo, "part_hi": last.through_seq + 1}
                steps.append((payload_sql(spec, groups=groups, changed=True), old))
        else:
            stale = "true" if rebuild else "(settings_hash <> $h or event_seq is null)"
            rebuilt = conn.execute(
                f"delete from {spec.table} where {stale} and {in_window('event_time')}",
                _bind(f"{stale} {in_window('event_time')}", {"h": digest, **window_params(window)}),
            ).fetchall()[0][0]
            rebuilt += increments.delete_rows_of(
                conn, spec.table, increments.CHANGED, in_window("event_time"), window_params(window)
            )
            kept = conn.execute(KEPT_SHARE_SQL, _bind(KEPT_SHARE_SQL, params)).fetchall()[0][0]
            sql = payload_sql(spec, groups=groups, kept_identities=kept < KEPT_IDENTITIES_BELOW)
            steps = [(sql, part) for part in whole_parts()]
    inserted = 0
    for sql, part in steps:
        with transaction(conn):
            inserted += conn.execute(sql, _bind(sql, {**params, **part})).fetchall()[0][0]
    after = last.through_seq if incremental and last is not None else None
    for sql in spec.records:
        with transaction(conn):
            bound = _bind(sql, {**params, "records_after": after})
            inserted += conn.execute(sql, bound).fetchall()[0][0]
    with transaction(conn):
        if whole:
            increments.record_build(conn, dest.name, digest, top, quality_run)
        elif last is not None and last.settings_hash != digest:
            increments.forget_build(conn, dest.name)
    return BuildResult(dest.name, spec.table, inserted, rebuilt, time.perf_counter() - started)
