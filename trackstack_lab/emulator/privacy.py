"""The platforms' privacy fields as their docs describe them: limited data use (Meta,
Snapchat, Reddit, TikTok) and Google's consent object. Each check returns a problem text
(the field is malformed) or None."""

from __future__ import annotations

from typing import Any

LDU = "LDU"
META_LOCATIONS = {(0, 0), (1, 1000)}
"""Meta's documented (country, state) codes: 0/0 lets Meta geolocate; 1/1000 is California."""
DATA_MANAGER_CONSENT = ("CONSENT_GRANTED", "CONSENT_DENIED", "CONSENT_STATUS_UNSPECIFIED")
GOOGLE_ADS_CONSENT = ("GRANTED", "DENIED", "UNSPECIFIED", "UNKNOWN")
CONSENT_KEYS = ("adUserData", "adPersonalization")
CLICK_CONVERSION_CONSENT_KEYS = ("adUserData",)
"""The Google Ads API sets ``ad_personalization`` only for user-data uploads."""


def options_problem(options: Any) -> str | None:
    """A ``data_processing_options`` list: empty (LDU off) or ``["LDU"]``."""
    if type(options) is not list or any(o != LDU for o in options):
        return 'must be [] or ["LDU"]'
    return None


def _code(value: Any) -> int | None:
    return value if type(value) is int else None


def meta_problem(e: dict[str, Any]) -> tuple[str, str] | None:
    """(field, problem) of Meta's ``data_processing_options`` with country and state."""
    if "opt_out" in e and type(e["opt_out"]) is not bool:
        return "opt_out", "must be a boolean"
    has_location = "data_processing_options_country" in e or "data_processing_options_state" in e
    if "data_processing_options" not in e:
        if has_location:
            return (
                "data_processing_options_country",
                "is only accepted together with data_processing_options",
            )
        return None
    options = e["data_processing_options"]
    problem = options_problem(options)
    if problem is not None:
        return "data_processing_options", problem
    if has_location:
        location = (
            _code(e.get("data_processing_options_country")),
            _code(e.get("data_processing_options_state")),
        )
        if location not in META_LOCATIONS:
            return (
                "data_processing_options_state",
                "country/state must be 0/0 (geolocate) or 1/1000 (California)",
            )
    return None


def reddit_problem(user: dict[str, Any]) -> str | None:
    """Reddit's ``user.data_processing_options`` (``modes``, optional country/region)."""
    if "data_processing_options" not in user:
        return None
    options = user["data_processing_options"]
    if type(options) is not dict:
        return "user.data_processing_options must be an object"
    if options_problem(options.get("modes")) is not None:
        return 'user.data_processing_options.modes must be ["LDU"]'
    for key in ("country", "region"):
        if key in options and type(options[key]) is not str:
            return f"user.data_processing_options.{key} must be a string"
    return None


def google_consent_problem(
    consent: Any, allowed: tuple[str, ...], keys: tuple[str, ...] = CONSENT_KEYS
) -> str | None:
    """Google's ``consent`` object: ``keys`` (``adUserData`` / ``adPersonalization``) with
    ``allowed`` enum values."""
    if consent is None:
        return None
    if type(consent) is not dict or set(consent) - set(keys):
        return f"consent may only hold {' and '.join(keys)}"
    for key, value in consent.items():
        if value not in allowed:
            return f"consent.{key} must be one of {', '.join(allowed)}"
    return None
