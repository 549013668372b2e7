"""Phone numbers to E.164 with the ``phonenumbers`` library.

Parsing runs once per distinct raw value and default region; the set-based path keeps
the answers in the ``phone_numbers`` table, so each distinct number is parsed only once
per warehouse (see `refresh_phone_numbers`).
"""

from __future__ import annotations

import re

import duckdb
import phonenumbers
import polars as pl

from trackstack_wh.identity.rules import (
    MAX_LENGTH,
    PHONE_MAX_DIGITS,
    PHONE_MIN_DIGITS,
    WHITESPACE,
)

_EXTENSION = re.compile(r"(?i)[\s,;]*(?:ext\.?|extension|x|#)\s*\d{1,7}\s*$")
_LETTERS = re.compile(r"[^\W\d_]")


def normalize_phone(raw: str | None, region: str | None) -> tuple[str | None, str | None]:
    """(E.164 with ``+``, None) or (None, drop reason) for one raw phone value.

    ``region`` is the ISO country assumed for numbers written without a country code;
    with ``None`` such digits are read as already starting with their country code.
    A leading ``00`` counts as ``+``. Extensions are dropped; letters (vanity numbers)
    are refused. Outcomes: ``invalid_phone``, ``too_long:phone``, ``placeholder_phone``.
    """
    if raw is None:
        return None, None
    text = raw.strip(WHITESPACE)
    if not text:
        return None, None
    if len(text) > MAX_LENGTH:
        return None, "too_long:phone"
    text = _EXTENSION.sub("", text)
    if _LETTERS.search(text):
        return None, "invalid_phone"
    if text.startswith("00"):
        text = "+" + text[2:]
    if not text.startswith("+") and region is None:
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None, "invalid_phone"
    country = number.country_code
    if country is None or phonenumbers.region_code_for_country_code(country) == "ZZ":
        return None, "invalid_phone"
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    digits = e164[1:]
    if not PHONE_MIN_DIGITS <= len(digits) <= PHONE_MAX_DIGITS:
        return None, "invalid_phone"
    national = digits[len(str(number.country_code)) :]
    if len(set(national)) == 1:
        return None, "placeholder_phone"
    return e164, None


PHONE_TABLE_DDL = """
create table if not exists phone_numbers (
    raw varchar not null,
    region varchar not null,
    e164 varchar,
    reason varchar,
    primary key (raw, region)
)
"""


def refresh_phone_numbers(
    conn: duckdb.DuckDBPyConnection, region: str | None, *, source: str = "events"
) -> int:
    """Parse the distinct phone values of ``source`` not yet in ``phone_numbers``.

    Returns how many new values were parsed. The Python step sees each distinct value
    once per region, ever; the rest of the pipeline joins the table.
    """
    conn.execute(PHONE_TABLE_DDL)
    new = conn.sql(
        f"select distinct phone as raw from {source} where phone is not null "
        "and phone not in (select raw from phone_numbers where region = $region)",
        params={"region": region or ""},
    ).pl()
    if new.is_empty():
        return 0
    parsed = [normalize_phone(raw, region) for raw in new["raw"].to_list()]
    rows = new.with_columns(
        region=pl.lit(region or ""),
        e164=pl.Series([p[0] for p in parsed], dtype=pl.String),
        reason=pl.Series([p[1] for p in parsed], dtype=pl.String),
    )
    conn.register("new_phone_numbers", rows)
    try:
        conn.execute(
            "insert into phone_numbers select raw, region, e164, reason from new_phone_numbers"
        )
    finally:
        conn.unregister("new_phone_numbers")
    return int(rows.height)
