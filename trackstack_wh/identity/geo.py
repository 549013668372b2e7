"""Place-name lookups used by normalization: US states and ISO-3166 countries.

Country names are the English region names of the ``phonenumbers`` package
(`countries.py`), plus the common short forms people type.
"""

from __future__ import annotations

from trackstack_wh.identity.countries import COUNTRY_NAMES

US_STATES: dict[str, str] = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "district of columbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi",
    "minnesota": "mn", "mississippi": "ms", "missouri": "mo", "montana": "mt",
    "nebraska": "ne", "nevada": "nv", "new hampshire": "nh", "new jersey": "nj",
    "new mexico": "nm", "new york": "ny", "north carolina": "nc", "north dakota": "nd",
    "ohio": "oh", "oklahoma": "ok", "oregon": "or", "pennsylvania": "pa",
    "rhode island": "ri", "south carolina": "sc", "south dakota": "sd", "tennessee": "tn",
    "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va", "washington": "wa",
    "west virginia": "wv", "wisconsin": "wi", "wyoming": "wy", "puerto rico": "pr",
    "guam": "gu", "american samoa": "as", "northern mariana islands": "mp",
    "united states virgin islands": "vi", "us virgin islands": "vi",
}  # fmt: skip
"""Lowercase US state and territory names to their two-letter postal codes."""

COUNTRY_ALIASES: dict[str, str] = {
    "usa": "us", "u.s.": "us", "u.s.a.": "us", "united states of america": "us",
    "america": "us", "uk": "gb", "u.k.": "gb", "great britain": "gb", "britain": "gb",
    "england": "gb", "scotland": "gb", "wales": "gb", "northern ireland": "gb",
    "the netherlands": "nl", "holland": "nl", "south korea": "kr", "korea": "kr",
    "russia": "ru", "czech republic": "cz", "czechia": "cz", "uae": "ae",
    "ivory coast": "ci", "turkiye": "tr", "türkiye": "tr", "viet nam": "vn",
}  # fmt: skip
"""Short or informal country names people type, to ISO-3166-1 alpha-2 (lowercase)."""


COUNTRY_CODES: dict[str, str] = {**COUNTRY_NAMES, **COUNTRY_ALIASES}
"""Lowercase English country name (or alias) to lowercase ISO-3166-1 alpha-2 code."""
