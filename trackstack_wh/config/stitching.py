"""``[stitching]``: how far back a conversion may borrow match keys from its person.

    [stitching]
    enabled = true               # false: no person graph table, nothing stitched
    events = "conversions"       # or "all", or a list of event names
    browser_window_days = 7      # user agent, IP, _fbp/_ttp from the last browser event
    click_attribution = "last"   # or "first": which ad click within the window wins

    [stitching.click_window_days]  # per platform, over the defaults below
    google_ads = 30

Each destination chooses what it takes with ``stitching = true | false | ["pii",
"browser", "clicks"]`` in its own table (ad platforms: all by default; CRMs never, they
receive clear values a person typed, not keys we matched).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trackstack_wh.config.checks import KeyTypes, only_keys
from trackstack_wh.contract import CANONICAL_EVENTS, EVENTS_BY_NAME, Family, is_extension_name
from trackstack_wh.errors import ConfigError

STITCH_CLASSES = ("pii", "browser", "clicks")
"""What a destination can take from its person: identity traits (email, phone, names,
address, birth date, gender, external ID), browser context, ad click IDs."""

CLICK_WINDOW_DAYS: dict[str, float] = {
    "meta": 7.0,
    "google_ads": 90.0,
    "linkedin": 90.0,
    "tiktok": 7.0,
    "snapchat": 28.0,
    "reddit": 28.0,
}
"""Default click windows: Meta's 7-day click attribution (``fbc``), the longest Google
Ads click-through window (90 days; a conversion action may use less), LinkedIn's 90-day
conversion window, TikTok's 7-day default, Snapchat's and Reddit's 28-day defaults."""

STITCHING_KEYS: KeyTypes = {
    "enabled": bool,
    "events": (str, list),
    "browser_window_days": (int, float),
    "click_attribution": str,
    "click_window_days": dict,
}
ATTRIBUTIONS = ("last", "first")
CONVERSION_EVENTS: tuple[str, ...] = tuple(
    e.name
    for e in CANONICAL_EVENTS
    if e.family
    in (Family.LEAD, Family.SIGNUP, Family.START_TRIAL, Family.FIRST_ACTION, Family.PURCHASE,
        Family.REFUND)
    or e.name in ("CheckoutStarted", "AddPaymentInfo")
)  # fmt: skip
"""The events that borrow keys by default: leads, sign-ups, trials, first actions,
purchases and refunds, and the checkout steps; page views, content views and product
usage keep what they carry (they are many, and the platforms' own pixels see them in the
browser)."""
ALL_EVENTS = ("*",)
MAX_DAYS = 365.0


@dataclass(frozen=True)
class StitchSettings:
    """Windows and attribution the quality refresh stitches with."""

    enabled: bool = True
    events: tuple[str, ...] = CONVERSION_EVENTS
    """The events that may borrow keys (``"all"``: ``("*",)``)."""
    browser_window_days: float = 7.0
    click_attribution: str = "last"
    click_window_days: Mapping[str, float] = field(default_factory=lambda: dict(CLICK_WINDOW_DAYS))
    default_ad_use: str | None = None
    """``[privacy] default_ad_user_data``: the ad-use answer of a row whose consent gives
    none (``denied``: such a row lends no keys, as it is sent to no ad platform)."""

    def fingerprint(self) -> dict[str, object]:
        """What the stitched rows depend on (stored with each quality run)."""
        return {
            "default_ad_use": self.default_ad_use,
            "enabled": self.enabled,
            "events": list(self.events),
            "browser_window_days": self.browser_window_days,
            "click_attribution": self.click_attribution,
            "click_window_days": dict(sorted(self.click_window_days.items())),
        }

    def __str__(self) -> str:
        return json.dumps(self.fingerprint(), sort_keys=True)


def parse_stitching(where: str, raw: Mapping[str, Any]) -> StitchSettings:
    """Validate ``[stitching]`` (``where`` names the file in errors)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: stitching must be a table")
    only_keys(where, "stitching.", raw, STITCHING_KEYS)
    attribution = raw.get("click_attribution", "last")
    if attribution not in ATTRIBUTIONS:
        raise ConfigError(
            f"{where}: stitching.click_attribution = {attribution!r}; allowed: {ATTRIBUTIONS}"
        )
    windows = raw.get("click_window_days", {})
    unknown = sorted(set(windows) - set(CLICK_WINDOW_DAYS))
    if unknown:
        raise ConfigError(
            f"{where}: stitching.click_window_days: unknown platform(s) {unknown}; "
            f"allowed: {sorted(CLICK_WINDOW_DAYS)}"
        )
    return StitchSettings(
        raw.get("enabled", True),
        _events(where, raw.get("events", "conversions")),
        _days(where, "stitching.browser_window_days", raw.get("browser_window_days", 7)),
        attribution,
        {
            **CLICK_WINDOW_DAYS,
            **{
                name: _days(where, f"stitching.click_window_days.{name}", days)
                for name, days in windows.items()
            },
        },
    )


def parse_destination_stitching(where: str, key: str, value: Any, *, crm: bool) -> tuple[str, ...]:
    """A destination's ``stitching`` setting as the classes it takes."""
    if isinstance(value, bool):
        chosen: tuple[str, ...] = STITCH_CLASSES if value else ()
    elif isinstance(value, list) and all(v in STITCH_CLASSES for v in value):
        chosen = tuple(c for c in STITCH_CLASSES if c in value)
    else:
        raise ConfigError(
            f"{where}: {key} = {value!r}; use true, false or a list of {list(STITCH_CLASSES)}"
        )
    if crm and chosen:
        raise ConfigError(
            f"{where}: {key}: CRMs take only the values the event itself carries; "
            "stitching applies to ad platforms (remove the key or set it to false)"
        )
    return chosen


def _events(where: str, value: Any) -> tuple[str, ...]:
    if value == "conversions":
        return CONVERSION_EVENTS
    if value == "all":
        return ALL_EVENTS
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        for name in value:
            if name not in EVENTS_BY_NAME and not is_extension_name(name):
                raise ConfigError(
                    f"{where}: stitching.events: {name!r} is neither a canonical event nor a "
                    "PascalCase extension name"
                )
        return tuple(value)
    raise ConfigError(
        f'{where}: stitching.events = {value!r}; use "conversions", "all" or a list of event names'
    )


def _days(where: str, key: str, value: Any) -> float:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 < value <= MAX_DAYS:
        raise ConfigError(f"{where}: {key} must be a number of days above 0 and at most 365")
    return float(value)
