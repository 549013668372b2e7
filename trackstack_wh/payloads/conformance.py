"""Payload rows checked against each platform's rules, set-based in SQL.

For the ``ready`` rows of a destination (optionally one time window), every rule that a
row breaks gives one problem row: the body element must be a JSON object; its time field
must carry the row's ``event_time`` in the platform's unit; its dedup field must equal
``dedup_key``; every hashed identifier must be SHA-256 hex (Google's Data Manager also
takes base64); ad platforms must get no readable email address anywhere. The emulator
enforces the same rules over HTTP; this runs them on the table before anything is sent.
Privacy signals (`PRIVACY_RULES`) must have the platforms' documented shapes and values.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from trackstack_wh.payloads.inspect import existing_tables
from trackstack_wh.sql import lit
from trackstack_wh.timewindow import TimeWindow, in_window, window_params

HEX_SHA256 = "^[0-9a-f]{64}$"
HEX_OR_BASE64_SHA256 = "^([0-9a-f]{64}|[A-Za-z0-9+/]{43}=)$"
READABLE_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"

TIME_UNITS = {
    "seconds": "try_cast(json_extract({p}, {path}) as bigint) = floor(epoch(event_time))::bigint",
    "millis": "try_cast(json_extract({p}, {path}) as bigint) = epoch_ms(event_time)",
    "timestamp": "try_cast(json_extract_string({p}, {path}) as timestamptz) "
    "between event_time - interval 1 second and event_time + interval 1 second",
}


@dataclass(frozen=True)
class KindRules:
    """Where one request kind keeps its time, dedup key and hashed identifiers."""

    time: tuple[str, str] | None = None
    """(JSON path, unit in TIME_UNITS)."""
    dedup: str | None = None
    hashed: tuple[str, ...] = ()
    hash_pattern: str = HEX_SHA256
    typed_ids: str | None = None
    """A list of ``{idType, idValue}`` whose ``SHA256_*`` values must be hashes."""


def _user_data(prefix: str, keys: str) -> tuple[str, ...]:
    return tuple(f"{prefix}.{k}[*]" for k in keys.split())


META_KEYS = "em ph fn ln ge db ct st zp country external_id"

RULES: dict[tuple[str, str], KindRules] = {
    ("meta", "event"): KindRules(
        ("$.event_time", "seconds"), "$.event_id", _user_data("$.user_data", META_KEYS)
    ),
    ("google_ads", "event"): KindRules(
        ("$.eventTimestamp", "timestamp"),
        None,
        ("$.userData.userIdentifiers[*].emailAddress", "$.userData.userIdentifiers[*].phoneNumber"),
        HEX_OR_BASE64_SHA256,
    ),
    ("linkedin", "event"): KindRules(
        ("$.conversionHappenedAt", "millis"), "$.eventId", typed_ids="$.user.userIds"
    ),
    ("tiktok", "event"): KindRules(
        ("$.event_time", "seconds"),
        "$.event_id",
        (
            "$.user.email",
            "$.user.phone",
            "$.user.external_id",
            "$.user.first_name",
            "$.user.last_name",
        ),
    ),  # fmt: skip
    ("snapchat", "event"): KindRules(
        ("$.event_time", "seconds"), "$.event_id", _user_data("$.user_data", META_KEYS)
    ),
    ("reddit", "event"): KindRules(
        ("$.event_at", "millis"),
        "$.metadata.conversion_id",
        ("$.user.email", "$.user.phone_number", "$.user.external_id", "$.user.ip_address"),
    ),
    ("hubspot", "custom_event"): KindRules(("$.occurredAt", "timestamp"), "$.uuid"),
    ("posthog", "event"): KindRules(("$.timestamp", "timestamp"), "$.uuid"),
    ("posthog", "identify"): KindRules(("$.timestamp", "timestamp"), "$.uuid"),
}
AD_PLATFORMS = ("meta", "google_ads", "linkedin", "tiktok", "snapchat", "reddit")
LDU_ONLY = "coalesce(json_extract({p}, {path})::varchar, '[\"LDU\"]') <> '[\"LDU\"]'"
PRIVACY_RULES: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("meta", "event"): (
        ("ldu_options", LDU_ONLY.format(p="payload", path="'$.data_processing_options'")),
        (
            "ldu_location_without_options",
            "(json_exists(payload, '$.data_processing_options_country') "
            "or json_exists(payload, '$.data_processing_options_state')) "
            "and not json_exists(payload, '$.data_processing_options')",
        ),
        (
            "ldu_location_codes",
            "json_exists(payload, '$.data_processing_options') and "
            "(payload->>'$.data_processing_options_country', "
            "payload->>'$.data_processing_options_state') not in (('0', '0'), ('1', '1000'))",
        ),
    ),
    ("google_ads", "event"): (
        (
            "consent_values",
            "coalesce(payload->>'$.consent.adUserData', 'CONSENT_GRANTED') not in "
            "('CONSENT_GRANTED', 'CONSENT_DENIED') or coalesce(payload->>"
            "'$.consent.adPersonalization', 'CONSENT_GRANTED') not in "
            "('CONSENT_GRANTED', 'CONSENT_DENIED')",
        ),
    ),
    ("google_ads", "click_conversion"): (
        (
            "consent_values",
            "coalesce(payload->>'$.consent.adUserData', 'GRANTED') not in ('GRANTED', 'DENIED') "
            "or json_exists(payload, '$.consent.adPersonalization')",
        ),
    ),
    ("tiktok", "event"): (
        (
            "limited_data_use",
            "json_exists(payload, '$.limited_data_use') "
            "and json_type(payload, '$.limited_data_use') <> 'BOOLEAN'",
        ),
    ),
    ("snapchat", "event"): (
        ("ldu_options", LDU_ONLY.format(p="payload", path="'$.data_processing_options'")),
    ),
    ("reddit", "event"): (
        (
            "ldu_options",
            LDU_ONLY.format(p="payload", path="'$.user.data_processing_options.modes'"),
        ),
    ),
}
"""(destination, kind) -> (rule, SQL true when a ready row breaks it) for the privacy
signals: LDU is exactly ``["LDU"]``, Meta's location only beside it and as ``0/0`` or
``1/1000``, Google's consent enums, TikTok's flag a boolean."""
READY_CTE = f"""
with ready as (
    select event_id, request_kind, dedup_key, event_time, payload from {{table}}
    where status = 'ready' and {in_window("event_time")}
)"""


def _kind_checks(destination: str, kind: str, rules: KindRules) -> list[tuple[str, str]]:
    """(rule name, SQL condition that is true when the row breaks it)."""
    p = "payload"
    checks = []
    if rules.time:
        path, unit = rules.time
        ok = TIME_UNITS[unit].format(p=p, path=lit(path))
        checks.append((f"time_{unit}:{path}", f"not coalesce({ok}, false)"))
    if rules.dedup:
        checks.append(
            (
                f"dedup_key:{rules.dedup}",
                f"json_extract_string({p}, {lit(rules.dedup)}) is distinct from dedup_key",
            )
        )
    for path in rules.hashed:
        values = (
            f"json_extract_string({p}, {lit(path)})"
            if "[*]" in path
            else f"[json_extract_string({p}, {lit(path)})]"
        )
        bad = (
            f"len(list_filter({values}, lambda v: v is not null "
            f"and not regexp_full_match(v, {lit(rules.hash_pattern)}))) > 0"
        )
        checks.append((f"hashed:{path}", bad))
    if rules.typed_ids:
        ids = f"coalesce(json_extract({p}, {lit(rules.typed_ids)})::json[], [])"
        pattern = lit(rules.hash_pattern)
        bad = (
            f"len(list_filter({ids}, lambda x: starts_with(x->>'idType', 'SHA256_') "
            f"and not regexp_full_match(coalesce(x->>'idValue', ''), {pattern}))) > 0"
        )
        checks.append((f"hashed:{rules.typed_ids}", bad))
    checks += list(PRIVACY_RULES.get((destination, kind), ()))
    if destination in AD_PLATFORMS:
        checks.append(("no_readable_email", f"regexp_matches({p}::varchar, {lit(READABLE_EMAIL)})"))
    return [(name, f"request_kind = {lit(kind)} and ({cond})") for name, cond in checks]


def conformance_sql(destination: str, table: str) -> str:
    """The query listing every broken rule of ``table``'s ready rows."""
    kinds = sorted({k for (d, k) in (*RULES, *PRIVACY_RULES) if d == destination})
    checks = [("json_object", "coalesce(json_type(payload) <> 'OBJECT', true)")]
    for kind in kinds:
        checks += _kind_checks(destination, kind, RULES.get((destination, kind), KindRules()))
    selects = "\nunion all\n".join(
        f"select event_id, request_kind, {lit(name)} as rule from ready where {cond}"
        for name, cond in checks
    )
    return f"""{READY_CTE.format(table=table)}
{selects}
order by rule, event_id"""


@dataclass(frozen=True)
class Conformance:
    """Ready rows checked and the rules they break (``problems``: event_id, kind, rule)."""

    destination: str
    checked: int
    problems: pl.DataFrame

    @property
    def ok(self) -> bool:
        return self.problems.height == 0

    def counts(self) -> dict[str, int]:
        """Broken rules and how many rows break each."""
        return dict(self.problems.group_by("rule").len().sort("rule").iter_rows())


def check_conformance(
    conn: duckdb.DuckDBPyConnection, destination: str, window: TimeWindow | None = None
) -> Conformance:
    """Check a destination's ready rows (those in ``window`` when given)."""
    table = existing_tables(conn).get(destination)
    params = window_params(window)
    if table is None:
        empty = pl.DataFrame(schema={"event_id": pl.String, "request_kind": pl.String,
                                     "rule": pl.String})  # fmt: skip
        return Conformance(destination, 0, empty)
    checked = conn.execute(
        f"{READY_CTE.format(table=table)} select count(*) from ready", params
    ).fetchall()[0][0]
    problems = conn.sql(conformance_sql(destination, table), params=params).pl()
    return Conformance(destination, checked, problems)
