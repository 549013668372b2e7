"""The identity rules as set-based SQL: one pass over ``events`` builds ``event_identity``.

Each key of `rules.Key` becomes a SQL expression mirroring `reference.normalize`; the
hashes are DuckDB ``sha256`` over whole columns. Phones come from the ``phone_numbers``
table (`phones.refresh_phone_numbers`). No input value is ever formatted into SQL: the
only literals are the rule constants.
"""

from __future__ import annotations

from functools import cache

import duckdb
import polars as pl

from trackstack_wh.identity.geo import US_STATES, country_codes, known_country_codes
from trackstack_wh.identity.phones import refresh_phone_numbers
from trackstack_wh.identity.rules import (
    CITY_STRIP,
    EMAIL_SHAPE,
    GOOGLE_DOTLESS_DOMAINS,
    HASHED_KEYS,
    KEY_SOURCE,
    MAX_LENGTH,
    NOT_ASCII_ALNUM,
    RULES_VERSION,
    SHA256_HEX,
    SPACES,
    WHITESPACE,
    Key,
)

PLAIN_KEYS: tuple[Key, ...] = (Key.CITY_COMPACT, Key.STATE, Key.ZIP, Key.COUNTRY)
"""Keys some platform sends unhashed (address parts): stored normalized, in clear."""

SOURCES: tuple[str, ...] = tuple(dict.fromkeys(KEY_SOURCE.values()))
"""The ``events`` columns identity reads."""


def lit(text: str) -> str:
    """A SQL string literal for a rule constant (never for input values)."""
    return "'" + text.replace("'", "''") + "'"


def _spaces_collapsed(x: str) -> str:
    return f"regexp_replace({x}, {lit(SPACES + '+')}, ' ', 'g')"


def _rule(key: Key) -> str:
    """SQL for the normalized value of ``key`` from ``t`` (trimmed) and ``l`` (lowercased)."""
    t, l = f"t_{KEY_SOURCE[key]}", f"l_{KEY_SOURCE[key]}"
    user, domain = f"split_part({l}, '@', 1)", f"split_part({l}, '@', 2)"
    is_email = f"regexp_full_match({l}, {lit(EMAIL_SHAPE)})"
    domains = ", ".join(lit(d) for d in GOOGLE_DOTLESS_DOMAINS)
    compact = f"regexp_replace({l}, {lit(SPACES)}, '', 'g')"
    city = f"regexp_replace({l}, {lit(CITY_STRIP)}, '', 'g')"
    rules = {
        Key.EMAIL: f"case when {is_email} then {l} end",
        Key.EMAIL_GOOGLE: (
            f"case when {is_email} then case when {domain} in ({domains}) then "
            f"nullif(replace(split_part({user}, '+', 1), '.', ''), '') || '@' || {domain} "
            f"else {l} end end"
        ),
        Key.EMAIL_REDDIT: (
            f"case when {is_email} then nullif(regexp_replace(split_part({user}, '+', 1), "
            f"{lit(NOT_ASCII_ALNUM)}, '', 'g'), '') || '@' || {domain} end"
        ),
        Key.FIRST_NAME: l,
        Key.FIRST_NAME_COMPACT: compact,
        Key.LAST_NAME: l,
        Key.LAST_NAME_COMPACT: compact,
        Key.CITY: city,
        Key.CITY_COMPACT: compact,
        Key.STATE: f"coalesce(us_states.code, {city})",
        Key.ZIP: f"split_part({compact}, '-', 1)",
        Key.COUNTRY: f"case when {l} in (select code from iso_countries) then {l} "
        "else country_names.code end",
        Key.GENDER: f"case when {l} in ('m', 'male') then 'm' when {l} in ('f', 'female') "
        "then 'f' end",
        Key.DATE_OF_BIRTH: _date_of_birth(t),
        Key.EXTERNAL_ID: t,
        Key.EXTERNAL_ID_LOWER: l,
        Key.CLIENT_IP: l,
    }
    return rules[key]


def _date_of_birth(t: str) -> str:
    as_iso = (
        f"case when regexp_matches({t}, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') "
        f"then substr({t}, 1, 10) "
        f"when regexp_full_match({t}, '[0-9]{{8}}') "
        f"then substr({t}, 1, 4) || '-' || substr({t}, 5, 2) || '-' || substr({t}, 7, 2) "
        f"when regexp_full_match({t}, '[0-9]{{4}}/[0-9]{{2}}/[0-9]{{2}}') "
        f"then replace({t}, '/', '-') end"
    )
    day = f"try_cast({as_iso} as date)"
    return f"case when year({day}) between 1900 and 2100 then strftime({day}, '%Y%m%d') end"


@cache
def identity_sql(relation: str = "events") -> str:
    """SELECT of one identity row per row of ``relation`` (parameter ``$region``).

    ``relation`` needs ``event_id`` and the identity columns of ``events``.
    """
    trimmed = ",\n        ".join(
        [f"nullif(trim(e.{s}, {lit(WHITESPACE)}), '') as t_{s}" for s in SOURCES]
        + ["e.phone as t_phone_raw"]
    )
    lowered = ",\n        ".join(f"lower(t_{s}) as l_{s}" for s in SOURCES)
    prehashed = ",\n        ".join(
        f"coalesce(regexp_full_match(t_{s}, {lit(SHA256_HEX)}), false) as h_{s}" for s in SOURCES
    )
    values, reasons = [], []
    for key in Key:
        source = KEY_SOURCE[key]
        t = f"t_{source}"
        if source == "phone":
            value = "phone_lookup.e164" if key is Key.PHONE_E164 else "substr(phone_lookup.e164, 2)"
            reason = "phone_reason"
        else:
            value = f"nullif({_rule(key)}, '')"
            reason = (
                f"case when length({t}) > {MAX_LENGTH} then 'too_long:{source}' "
                f"when v_{key} is null then 'invalid_{source}' end"
            )
        values.append(
            f"case when h_{source} then l_{source} when {t} is not null"
            + ("" if source == "phone" else f" and length({t}) <= {MAX_LENGTH}")
            + f" then {value} end as v_{key}"
        )
        reasons.append(f"case when {t} is not null and not h_{source} then {reason} end")
    hashes = ",\n    ".join(
        f"case when h_{KEY_SOURCE[k]} then v_{k} else sha256(v_{k}) end as {k}_sha256"
        for k in HASHED_KEYS
    )
    value_columns = ",\n        ".join(values)
    plain = ", ".join(f"case when not h_{KEY_SOURCE[k]} then v_{k} end as {k}" for k in PLAIN_KEYS)
    return f"""
with trimmed as (
    select e.event_id,
        {trimmed}
    from {relation} e
), lowered as (
    select *,
        {lowered},
        {prehashed}
    from trimmed
), normalized as (
    select l.*, phone_lookup.reason as phone_reason,
        {value_columns}
    from lowered l
    left join phone_numbers phone_lookup
        on phone_lookup.raw = l.t_phone_raw and phone_lookup.region = $region
    left join us_states on us_states.name = {_spaces_collapsed("l.l_state")}
    left join country_names on country_names.name = {_spaces_collapsed("l.l_country")}
)
select event_id,
    {hashes},
    {plain},
    list_sort(list_distinct(list_filter([{", ".join(reasons)}], lambda r: r is not null)))
        as identity_issues,
    {lit(RULES_VERSION)} as rules_version
from normalized"""


def build_identity(
    conn: duckdb.DuckDBPyConnection,
    phone_region: str | None,
    *,
    source: str = "events",
    target: str = "event_identity",
) -> None:
    """(Re)build table ``target`` (one row per event) from relation ``source``."""
    refresh_phone_numbers(conn, phone_region, source=source)
    _lookup_tables(conn)
    conn.execute(
        f"create or replace table {target} as {identity_sql(source)}",
        {"region": phone_region or ""},
    )


def _lookup_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Temp lookup tables for state and country names (built once per connection)."""
    tables = {
        "us_states": pl.DataFrame({"name": list(US_STATES), "code": list(US_STATES.values())}),
        "country_names": pl.DataFrame(
            {"name": list(country_codes()), "code": list(country_codes().values())}
        ),
        "iso_countries": pl.DataFrame({"code": sorted(known_country_codes())}),
    }
    for name, frame in tables.items():
        conn.register(f"{name}_frame", frame)
        try:
            conn.execute(f"create temp table if not exists {name} as from {name}_frame")
        finally:
            conn.unregister(f"{name}_frame")
