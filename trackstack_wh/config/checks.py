"""Checks shared by every section of ``trackstack.toml``: each names the file and the key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from trackstack_wh.errors import ConfigError

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
DOMAIN = re.compile(
    r"(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"
)
"""A lowercase domain (``acme.com``) or a subdomain pattern (``*.acme.com``)."""

KeyTypes = dict[str, type | tuple[type, ...]]


@dataclass(frozen=True)
class IdFormat:
    """What an account ID or name from the config may look like (it goes into URLs or
    request bodies as it is)."""

    title: str
    pattern: str
    """A regular expression for the whole value."""
    allowed: str
    example: str

    def check(self, where: str, key: str, value: str) -> str:
        """``value``, or a ConfigError naming the key, the value and what is allowed."""
        if re.fullmatch(self.pattern, value) is None:
            raise ConfigError(
                f"{where}: {key} = {value!r} is not a {self.title}: {self.allowed} "
                f"(like {self.example!r})"
            )
        return value


_HOST = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
META_PIXEL = IdFormat("Meta pixel (dataset) ID", r"[0-9]{1,32}", "digits", "100000000000001")
SNAPCHAT_PIXEL = IdFormat(
    "Snapchat pixel ID",
    r"[A-Za-z0-9]+(?:-[A-Za-z0-9]+)*",
    "letters and digits in '-'-separated groups, as in a UUID",
    "a1b2c3d4-0000-4000-8000-000000000001",
)
REDDIT_PIXEL = IdFormat(
    "Reddit pixel ID", r"[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*", "letters, digits and '_'", "t2_abc123"
)
TIKTOK_PIXEL = IdFormat(
    "TikTok pixel code", r"[A-Za-z0-9]{1,64}", "letters and digits", "C4TESTPIXEL0001"
)
GOOGLE_CUSTOMER = IdFormat(
    "Google Ads customer ID",
    r"[0-9]{10}|[0-9]{3}-[0-9]{3}-[0-9]{4}",
    "10 digits, dashes allowed",
    "123-456-7890",
)
GOOGLE_ACTION = IdFormat(
    "Google Ads conversion action ID",
    r"[0-9]{1,20}|customers/[0-9]{10}/conversionActions/[0-9]{1,20}",
    "digits, or a resource name customers/<customer id>/conversionActions/<id>",
    "700000001",
)
LINKEDIN_RULE = IdFormat(
    "LinkedIn conversion rule ID",
    r"[0-9]{1,20}|urn:lla:llaPartnerConversion:[0-9]{1,20}",
    "digits, or urn:lla:llaPartnerConversion:<id>",
    "18000001",
)
HUBSPOT_PORTAL = IdFormat("HubSpot portal ID", r"[0-9]{1,20}", "digits", "4455667")
SALESFORCE_INSTANCE = IdFormat(
    "Salesforce instance URL",
    rf"https://{_HOST}(?::[0-9]{{1,5}})?/?",
    "https:// and a host name, no path, query or fragment",
    "https://acme.my.salesforce.com",
)
SALESFORCE_FIELD = IdFormat(
    "Salesforce field API name",
    r"[A-Za-z][A-Za-z0-9_]{0,79}",
    "a letter, then letters, digits and '_'",
    "TrackStack_Order_Id__c",
)

SALESFORCE_CURRENCY_FIELD = IdFormat(
    "Salesforce currency field",
    rf"(?:{SALESFORCE_FIELD.pattern})?",
    "a field API name, or '' for a single-currency org",
    "CurrencyIsoCode",
)


def only_keys(where: str, prefix: str, raw: Mapping[str, Any], allowed: KeyTypes) -> None:
    """Every key of ``raw`` is allowed and has its type."""
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {prefix}{key}; allowed: {', '.join(sorted(allowed))}"
            )
        expected = allowed[key]
        # TOML booleans are ints to isinstance; a number key never takes true/false.
        takes_bool = bool in (expected if isinstance(expected, tuple) else (expected,))
        if not isinstance(value, expected) or (isinstance(value, bool) and not takes_bool):
            names = expected.__name__ if isinstance(expected, type) else str(expected)
            raise ConfigError(f"{where}: {prefix}{key} must be {names}, got {type(value).__name__}")


def strings(where: str, key: str, values: list[Any]) -> list[str]:
    """``values`` as a list of strings, or a ConfigError."""
    if not all(isinstance(v, str) for v in values):
        raise ConfigError(f"{where}: {key} must be a list of strings")
    return values


def domains(where: str, key: str, values: list[Any]) -> tuple[str, ...]:
    """A list of domain patterns (``acme.com``, ``*.acme.com``)."""
    for domain in strings(where, key, values):
        if not DOMAIN.fullmatch(domain):
            raise ConfigError(
                f"{where}: {key}: {domain!r} is not a lowercase domain "
                "(e.g. acme.com or *.acme.com)"
            )
    return tuple(values)


def env_name(where: str, key: str, value: str) -> str:
    """A key that names an environment variable, never the secret itself."""
    if not ENV_NAME.fullmatch(value):
        raise ConfigError(
            f"{where}: {key} must name an environment variable (like "
            "TRACKSTACK_META_TOKEN), not hold the secret itself"
        )
    return value


def host_allowed(host: str, patterns: tuple[str, ...]) -> bool:
    """``host`` equals a pattern, or is a subdomain of a ``*.`` pattern."""
    return any(
        host == p or (p.startswith("*.") and host.endswith(p[1:]) and len(host) > len(p) - 1)
        for p in patterns
    )
