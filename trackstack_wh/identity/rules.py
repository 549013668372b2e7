"""Identity normalization rules: the shared text primitives and each platform's choices.

Facts follow the platforms' conversion-API documentation and SDKs (see the README's
identity section). Every rule here exists twice on purpose: as SQL (``sql.py``, the
set-based path that runs on whole tables) and as plain Python (``reference.py``, the
reference that tests hold the SQL to). Both are built from the constants below.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

RULES_VERSION = "2026-11-v1"
"""Stored with every hash, so a later rule change can tell which rows to re-hash."""

WHITESPACE = (
    " \t\n\r\x0b\x0c\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
"""Characters trimmed from both ends of every identity value (and counted as spaces)."""

MAX_LENGTH = 256
"""Longer identity values are not plausible match keys; they are dropped with a reason."""

SHA256_HEX = "[0-9a-fA-F]{64}"
"""Already a SHA-256 hex digest (whole-string match): passed through lowercased."""

EMAIL_SHAPE = f"[^@{WHITESPACE}]+@[^@{WHITESPACE}]+\\.[^@{WHITESPACE}.]+"
"""A normalized email must look like name@domain.tld (whole-string match)."""

GOOGLE_DOTLESS_DOMAINS = ("gmail.com", "googlemail.com")
"""Domains where Google ignores dots and ``+suffix`` in the username."""

PHONE_MIN_DIGITS = 8
PHONE_MAX_DIGITS = 15
"""E.164 digit counts (country code included) accepted as a phone match key."""

CITY_STRIP = f"[0-9.()\\-{WHITESPACE}]"
"""Meta's city/state rule removes digits, spaces, dots, hyphens and parentheses."""

SPACES = f"[{WHITESPACE}]"
NOT_ASCII_ALNUM = "[^a-z0-9]"


class Key(StrEnum):
    """A normalized identity value (one column of ``event_identity``)."""

    EMAIL = "email"
    """trim + lowercase, must look like an email."""
    EMAIL_GOOGLE = "email_google"
    """as EMAIL; for gmail.com / googlemail.com also no dots and no ``+suffix``."""
    EMAIL_REDDIT = "email_reddit"
    """as EMAIL; username cut at ``+`` and stripped to ASCII letters and digits."""
    PHONE_E164 = "phone_e164"
    """E.164 with the leading ``+``."""
    PHONE_DIGITS = "phone_digits"
    """E.164 digits without ``+`` (country code included)."""
    FIRST_NAME = "first_name"
    """trim + lowercase."""
    FIRST_NAME_COMPACT = "first_name_compact"
    """lowercase with every space removed."""
    LAST_NAME = "last_name"
    LAST_NAME_COMPACT = "last_name_compact"
    CITY = "city"
    """Meta's rule: lowercase without digits, spaces, ``.``, ``-``, ``(``, ``)``."""
    CITY_COMPACT = "city_compact"
    """lowercase with every space removed."""
    STATE = "state"
    """two-letter code for US state names, else Meta's city rule."""
    ZIP = "zip"
    """lowercase, no spaces, only the part before ``-`` (ZIP+4 becomes 5 digits)."""
    COUNTRY = "country"
    """lowercase ISO-3166-1 alpha-2 (names mapped to codes)."""
    GENDER = "gender"
    """``m`` or ``f``."""
    DATE_OF_BIRTH = "date_of_birth"
    """``YYYYMMDD``."""
    EXTERNAL_ID = "external_id"
    """trimmed, case kept."""
    EXTERNAL_ID_LOWER = "external_id_lower"
    """trim + lowercase."""
    CLIENT_IP = "client_ip"
    """trim + lowercase (Reddit hashes the IP)."""


KEY_SOURCE: dict[Key, str] = {
    Key.EMAIL: "email",
    Key.EMAIL_GOOGLE: "email",
    Key.EMAIL_REDDIT: "email",
    Key.PHONE_E164: "phone",
    Key.PHONE_DIGITS: "phone",
    Key.FIRST_NAME: "first_name",
    Key.FIRST_NAME_COMPACT: "first_name",
    Key.LAST_NAME: "last_name",
    Key.LAST_NAME_COMPACT: "last_name",
    Key.CITY: "city",
    Key.CITY_COMPACT: "city",
    Key.STATE: "state",
    Key.ZIP: "zip",
    Key.COUNTRY: "country",
    Key.GENDER: "gender",
    Key.DATE_OF_BIRTH: "date_of_birth",
    Key.EXTERNAL_ID: "external_id",
    Key.EXTERNAL_ID_LOWER: "external_id",
    Key.CLIENT_IP: "client_ip",
}
"""The ``events`` column each key is normalized from."""


@dataclass(frozen=True)
class MatchKey:
    """One identity field a platform accepts: its name there, our key, hashed or not."""

    name: str
    key: Key
    hashed: bool = True


@dataclass(frozen=True)
class PlatformIdentity:
    """Which normalized keys a platform matches on, and which click IDs it reads."""

    platform: str
    keys: tuple[MatchKey, ...]
    click_ids: tuple[str, ...] = ()
    uses_ip_and_user_agent: bool = False


def _m(name: str, key: Key, hashed: bool = True) -> MatchKey:
    return MatchKey(name, key, hashed)


PLATFORMS: dict[str, PlatformIdentity] = {
    p.platform: p
    for p in (
        PlatformIdentity(
            "meta",
            (
                _m("em", Key.EMAIL), _m("ph", Key.PHONE_DIGITS), _m("fn", Key.FIRST_NAME),
                _m("ln", Key.LAST_NAME), _m("ge", Key.GENDER), _m("db", Key.DATE_OF_BIRTH),
                _m("ct", Key.CITY), _m("st", Key.STATE), _m("zp", Key.ZIP),
                _m("country", Key.COUNTRY), _m("external_id", Key.EXTERNAL_ID_LOWER),
            ),
            click_ids=("fbc", "fbp", "fbclid"),
            uses_ip_and_user_agent=True,
        ),
        PlatformIdentity(
            "google_ads",
            (
                _m("hashedEmail", Key.EMAIL_GOOGLE), _m("hashedPhoneNumber", Key.PHONE_E164),
                _m("hashedFirstName", Key.FIRST_NAME), _m("hashedLastName", Key.LAST_NAME),
                _m("city", Key.CITY_COMPACT, hashed=False), _m("state", Key.STATE, hashed=False),
                _m("postalCode", Key.ZIP, hashed=False),
                _m("countryCode", Key.COUNTRY, hashed=False),
            ),
            click_ids=("gclid", "gbraid", "wbraid"),
        ),
        PlatformIdentity(
            "linkedin",
            (
                _m("SHA256_EMAIL", Key.EMAIL),
                _m("firstName", Key.FIRST_NAME, hashed=False),
                _m("lastName", Key.LAST_NAME, hashed=False),
                _m("countryCode", Key.COUNTRY, hashed=False),
            ),
            click_ids=("li_fat_id",),
        ),
        PlatformIdentity(
            "tiktok",
            (
                _m("email", Key.EMAIL), _m("phone", Key.PHONE_E164),
                _m("external_id", Key.EXTERNAL_ID_LOWER),
                _m("first_name", Key.FIRST_NAME_COMPACT), _m("last_name", Key.LAST_NAME_COMPACT),
                _m("zip_code", Key.ZIP), _m("city", Key.CITY_COMPACT, hashed=False),
                _m("state", Key.STATE, hashed=False), _m("country", Key.COUNTRY, hashed=False),
            ),
            click_ids=("ttclid", "ttp"),
            uses_ip_and_user_agent=True,
        ),
        PlatformIdentity(
            "snapchat",
            (
                _m("em", Key.EMAIL), _m("ph", Key.PHONE_DIGITS),
                _m("fn", Key.FIRST_NAME_COMPACT), _m("ln", Key.LAST_NAME_COMPACT),
                _m("ge", Key.GENDER), _m("db", Key.DATE_OF_BIRTH), _m("ct", Key.CITY_COMPACT),
                _m("st", Key.STATE), _m("zp", Key.ZIP), _m("country", Key.COUNTRY),
                _m("external_id", Key.EXTERNAL_ID),
            ),
            click_ids=("sc_cid",),
            uses_ip_and_user_agent=True,
        ),
        PlatformIdentity(
            "reddit",
            (
                _m("email", Key.EMAIL_REDDIT), _m("phone_number", Key.PHONE_E164),
                _m("external_id", Key.EXTERNAL_ID), _m("ip_address", Key.CLIENT_IP),
            ),
            click_ids=("rdt_cid",),
            uses_ip_and_user_agent=True,
        ),
    )
}  # fmt: skip
"""Per platform: its match keys (name on the wire, our normalized key, hashed?) and click
IDs (``events`` columns). Google hashes names but sends address parts in plain text;
LinkedIn hashes only the email (userInfo is plain); Reddit hashes the IP."""

HASHED_KEYS: tuple[Key, ...] = tuple(
    k for k in Key if any(m.key is k and m.hashed for p in PLATFORMS.values() for m in p.keys)
)
"""Keys some platform needs hashed: ``event_identity`` stores their SHA-256."""
