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

from trackstack_wh.db import create_temp_table
from trackstack_wh.identity.countries import ISO_COUNTRY_CODES
from trackstack_wh.identity.geo import COUNTRY_CODES, US_STATES
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
from trackstack_wh.sql import lit

PLAIN_KEYS: tuple[Key, ...] = (Key.CITY_COMPACT, Key.STATE, Key.ZIP, Key.COUNTRY)
"""Keys some platform sends unhashed (address parts): stored normalized, in clear."""

SOURCES: tuple[str, ...] = tuple(dict.fromkeys(KEY_SOURCE.values()))
"""The ``events`` columns identity reads."""


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


def _source_dictionary(source: str, relation: str, chosen: frozenset[Key]) -> str:
    """Normalized, hashed and checked values for each distinct value of one source column.

    Normalization depends on the value alone, so it runs once per distinct value (people
    repeat across events) and the result is joined back to the events.
    """
    keys = [k for k in Key if KEY_SOURCE[k] == source and k in chosen]
    t, l, h = f"t_{source}", f"l_{source}", f"h_{source}"
    values, reasons = [], []
    for key in keys:
        if source == "phone":
            value = "e164" if key is Key.PHONE_E164 else "substr(e164, 2)"
            reason = "reason"
            guard = ""
        else:
            value = f"nullif({_rule(key)}, '')"
            reason = (
                f"case when length({t}) > {MAX_LENGTH} then 'too_long:{source}' "
                f"when v_{key} is null then 'invalid_{source}' end"
            )
            guard = f" and length({t}) <= {MAX_LENGTH}"
        values.append(
            f"case when {h} then {l} when {t} is not null{guard} then {value} end as v_{key}"
        )
        reasons.append(f"case when {t} is not null and not {h} then {reason} end")
    outputs = [
        f"case when {h} then v_{k} else sha256(v_{k}) end as {k}_sha256"
        for k in keys
        if k in HASHED_KEYS
    ]
    outputs += [f"case when not {h} then v_{k} end as {k}" for k in keys if k in PLAIN_KEYS]
    joins = {
        "phone": "left join phone_numbers phone_lookup "
        "on phone_lookup.raw = d.raw and phone_lookup.region = $region",
        "state": f"left join us_states on us_states.name = {_spaces_collapsed(l)}",
        "country": f"left join country_names on country_names.name = {_spaces_collapsed(l)}",
    }
    looked_up = {
        "phone": ", phone_lookup.e164, phone_lookup.reason",
        "state": ", us_states.code",
        "country": ", country_names.code",
    }.get(source, "")
    alias = {"state": "us_states", "country": "country_names"}.get(source, "looked_up")
    return f"""
    select raw, {", ".join(outputs)},
        list_filter([{", ".join(reasons)}], lambda r: r is not null) as issues_{source}
    from (
        select *, {", ".join(values)}
        from (
            select d.raw, {t}, {l}, {h}{looked_up}
            from (
                select raw, nullif(trim(raw, {lit(WHITESPACE)}), '') as {t},
                    lower({t}) as {l},
                    coalesce(regexp_full_match({t}, {lit(SHA256_HEX)}), false) as {h}
                from (select distinct {source} as raw from {relation} where {source} is not null)
            ) d
            {joins.get(source, "")}
        ) {alias}
    )"""


@cache
def identity_sql(relation: str = "events", keys: frozenset[Key] | None = None) -> str:
    """SELECT of one identity row per row of ``relation`` (parameter ``$region``).

    ``relation`` needs ``event_id``, ``event_seq`` and the identity columns of ``events``
    (``event_seq`` is kept so payload builds can cut both tables the same way). ``keys``
    limits the columns to those keys (default: every key).
    """
    chosen = keys if keys is not None else frozenset(Key)
    sources = [s for s in SOURCES if any(KEY_SOURCE[k] == s for k in chosen)]
    dictionaries = ",\n".join(
        f"dict_{source} as ({_source_dictionary(source, relation, chosen)})" for source in sources
    )
    joins = "\n".join(
        f"left join dict_{source} on dict_{source}.raw = e.{source}" for source in sources
    )
    columns = [f"dict_{KEY_SOURCE[k]}.{k}_sha256" for k in HASHED_KEYS if k in chosen]
    columns += [f"dict_{KEY_SOURCE[k]}.{k}" for k in PLAIN_KEYS if k in chosen]
    issues = [f"issues_{source}" for source in sources]
    any_issue = " or ".join(f"len({i}) > 0" for i in issues)
    return f"""
with {dictionaries}
select e.event_id, e.event_seq, {", ".join(columns)},
    case when {any_issue}
        then list_sort(list_distinct(flatten(list_filter([{", ".join(issues)}],
            lambda i: i is not null))))
        else [] end as identity_issues,
    {lit(RULES_VERSION)} as rules_version
from {relation} e
{joins}"""


def build_identity(
    conn: duckdb.DuckDBPyConnection,
    phone_region: str | None,
    *,
    source: str = "events",
    target: str = "event_identity",
    keys: frozenset[Key] | None = None,
) -> None:
    """(Re)build table ``target`` (one row per event) from relation ``source``, with
    every key or only ``keys``."""
    refresh_phone_numbers(conn, phone_region, source=source)
    _lookup_tables(conn)
    conn.execute(
        f"create or replace table {target} as {identity_sql(source, keys)}",
        {"region": phone_region or ""},
    )


def append_identity(
    conn: duckdb.DuckDBPyConnection,
    phone_region: str | None,
    source: str,
    target: str = "event_identity",
) -> None:
    """Add the identity rows of the events of relation ``source`` to ``target`` (new
    events, loaded after the others, so ``event_identity`` stays in ``event_seq`` order)."""
    refresh_phone_numbers(conn, phone_region, source=source)
    _lookup_tables(conn)
    conn.execute(f"insert into {target} {identity_sql(source)}", {"region": phone_region or ""})


def _lookup_tables(conn: duckdb.DuckDBPyConnection) -> None:
    """Temp lookup tables for state and country names (built once per connection)."""
    tables = {
        "us_states": pl.DataFrame({"name": list(US_STATES), "code": list(US_STATES.values())}),
        "country_names": pl.DataFrame(
            {"name": list(COUNTRY_CODES), "code": list(COUNTRY_CODES.values())}
        ),
        "iso_countries": pl.DataFrame({"code": sorted(ISO_COUNTRY_CODES)}),
    }
    for name, frame in tables.items():
        create_temp_table(conn, name, frame)
