"""Pure-Python reference of the identity rules, one value at a time.

Tests hold the set-based SQL (``sql.py``) to this; it is also handy in a notebook to see
what a single value becomes. Lowercasing follows the simple one-to-one Unicode case
mapping (as DuckDB's ``lower`` does), so ``İ`` becomes ``i`` and a final ``Σ`` becomes
``σ``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re

from trackstack_wh.identity.countries import ISO_COUNTRY_CODES
from trackstack_wh.identity.geo import COUNTRY_CODES, US_STATES
from trackstack_wh.identity.phones import normalize_phone
from trackstack_wh.identity.rules import (
    CITY_STRIP,
    EMAIL_SHAPE,
    GOOGLE_DOTLESS_DOMAINS,
    KEY_SOURCE,
    MAX_LENGTH,
    NOT_ASCII_ALNUM,
    SHA256_HEX,
    SPACES,
    WHITESPACE,
    Key,
)

Outcome = tuple[str | None, str | None]
"""(normalized value, drop reason); (None, None) when the value is simply absent."""

_HEX = re.compile(SHA256_HEX)
_EMAIL = re.compile(EMAIL_SHAPE)


def lower(text: str) -> str:
    """Simple (one code point to one code point) Unicode lowercase."""
    return "".join(c.lower()[0] for c in text)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def is_prehashed(value: str | None) -> bool:
    return value is not None and bool(_HEX.fullmatch(value.strip(WHITESPACE)))


def normalize(key: Key, raw: str | None, *, phone_region: str | None = "US") -> Outcome:
    """Normalize one raw value for one key. A pre-hashed value comes back lowercased."""
    if raw is None:
        return None, None
    text = raw.strip(WHITESPACE)
    if not text:
        return None, None
    if _HEX.fullmatch(text):
        return text.lower(), None
    if key in (Key.PHONE_E164, Key.PHONE_DIGITS):
        e164, reason = normalize_phone(raw, phone_region)
        if e164 is None:
            return None, reason
        return (e164 if key is Key.PHONE_E164 else e164[1:]), None
    field = KEY_SOURCE[key]
    if len(text) > MAX_LENGTH:
        return None, f"too_long:{field}"
    value = text if key is Key.EXTERNAL_ID else _RULES[key](lower(text))
    if value is None or value == "":
        return None, f"invalid_{field}"
    return value, None


def hashed(key: Key, raw: str | None, *, phone_region: str | None = "US") -> Outcome:
    """(SHA-256 hex of the normalized value, drop reason); pre-hashed values pass through."""
    value, reason = normalize(key, raw, phone_region=phone_region)
    if value is None or is_prehashed(raw):
        return value, reason
    return sha256_hex(value), None


def _email(text: str) -> str | None:
    return text if _EMAIL.fullmatch(text) else None


def _email_google(text: str) -> str | None:
    if not _EMAIL.fullmatch(text):
        return None
    user, _, domain = text.rpartition("@")
    if domain in GOOGLE_DOTLESS_DOMAINS:
        user = user.split("+", 1)[0].replace(".", "")
    return f"{user}@{domain}" if user else None


def _email_reddit(text: str) -> str | None:
    if not _EMAIL.fullmatch(text):
        return None
    user, _, domain = text.rpartition("@")
    user = re.sub(NOT_ASCII_ALNUM, "", user.split("+", 1)[0])
    return f"{user}@{domain}" if user else None


def _compact(text: str) -> str:
    return re.sub(SPACES, "", text)


def _city(text: str) -> str:
    return re.sub(CITY_STRIP, "", text)


def _state(text: str) -> str:
    return US_STATES.get(" ".join(re.split(SPACES + "+", text)), _city(text))


def _zip(text: str) -> str:
    return _compact(text).split("-", 1)[0]


def _country(text: str) -> str | None:
    if text in ISO_COUNTRY_CODES:
        return text
    return COUNTRY_CODES.get(" ".join(re.split(SPACES + "+", text)))


def _gender(text: str) -> str | None:
    return {"m": "m", "male": "m", "f": "f", "female": "f"}.get(text)


_DATE_FORMS = (
    re.compile("([0-9]{4})-([0-9]{2})-([0-9]{2})"),
    re.compile("([0-9]{4})([0-9]{2})([0-9]{2})"),
    re.compile("([0-9]{4})/([0-9]{2})/([0-9]{2})"),
)
"""YYYY-MM-DD (a time may follow), YYYYMMDD or YYYY/MM/DD."""


def _date_of_birth(text: str) -> str | None:
    found = _DATE_FORMS[0].match(text) or next(
        (m for form in _DATE_FORMS[1:] if (m := form.fullmatch(text))), None
    )
    if found is None:
        return None
    year, month, day = (int(g) for g in found.groups())
    try:
        dt.date(year, month, day)
    except ValueError:
        return None
    return f"{year:04d}{month:02d}{day:02d}" if 1900 <= year <= 2100 else None


def _keep(text: str) -> str:
    return text


_RULES = {
    Key.EMAIL: _email,
    Key.EMAIL_GOOGLE: _email_google,
    Key.EMAIL_REDDIT: _email_reddit,
    Key.FIRST_NAME: _keep,
    Key.FIRST_NAME_COMPACT: _compact,
    Key.LAST_NAME: _keep,
    Key.LAST_NAME_COMPACT: _compact,
    Key.CITY: _city,
    Key.CITY_COMPACT: _compact,
    Key.STATE: _state,
    Key.ZIP: _zip,
    Key.COUNTRY: _country,
    Key.GENDER: _gender,
    Key.DATE_OF_BIRTH: _date_of_birth,
    Key.EXTERNAL_ID_LOWER: _keep,
    Key.CLIENT_IP: _keep,
}
