"""Which version of each platform API a destination calls, and which versions are sunset.

A destination talks to one or more APIs (hosts), each with its own version format,
default and setting, ``[destinations.<name>.api_versions] <api> = "<version>"``; a
destination that calls a single API may keep the older ``api_version`` key. ``SUNSETS``
ships the sunset dates known when this package was released, so a push can halt a
destination (and a preview refuse it) instead of sending requests the platform will
refuse one by one. The APIs, their defaults and version formats are in
``trackstack_wh.config.apis``.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from trackstack_wh.config import Destination, GoogleAdsDestination
from trackstack_wh.config.apis import APIS, apis_of, setting_name, version_for
from trackstack_wh.payloads.requests import ENDPOINTS, Endpoint

SUNSETS: dict[str, dict[str, dt.date]] = {
    # Google Ads developer blog "sunset reminder" posts and the sunset-dates page.
    "google_ads_api": {
        "v14": dt.date(2024, 6, 5), "v15": dt.date(2024, 9, 25), "v16": dt.date(2025, 2, 5),
        "v17": dt.date(2025, 6, 4), "v18": dt.date(2025, 8, 20), "v19": dt.date(2026, 2, 11),
        "v20": dt.date(2026, 6, 10), "v21": dt.date(2026, 8, 5), "v22": dt.date(2026, 10, 7),
    },
    # Marketing API expiration dates (the Conversions API is a Marketing API endpoint; the
    # Graph API keeps the same versions longer). v24.0: the later of two published dates.
    "meta_graph": {
        "v17.0": dt.date(2024, 5, 14), "v18.0": dt.date(2024, 8, 13),
        "v19.0": dt.date(2025, 2, 4), "v20.0": dt.date(2025, 5, 6),
        "v21.0": dt.date(2025, 9, 9), "v22.0": dt.date(2026, 2, 19),
        "v23.0": dt.date(2026, 6, 9), "v24.0": dt.date(2026, 11, 10),
        "v25.0": dt.date(2027, 2, 23),
    },
    # LinkedIn Marketing API migrations page and recent-changes notices.
    "linkedin": {
        "202304": dt.date(2024, 4, 15), "202305": dt.date(2024, 5, 15),
        "202306": dt.date(2024, 6, 15), "202407": dt.date(2025, 7, 22),
        "202408": dt.date(2025, 8, 18), "202409": dt.date(2025, 9, 15),
        "202410": dt.date(2025, 10, 15), "202411": dt.date(2025, 11, 17),
        "202508": dt.date(2026, 8, 17), "202510": dt.date(2026, 10, 15),
        "202511": dt.date(2026, 11, 16), "202601": dt.date(2027, 1, 15),
        "202602": dt.date(2027, 2, 15), "202603": dt.date(2027, 3, 16),
    },
}  # fmt: skip
"""Announced sunset (expiry) dates: from that day on, the platform refuses the version."""

RETIRED_BELOW: dict[str, tuple[str, dt.date, str]] = {
    "salesforce_rest": (
        "v31.0",
        dt.date(2025, 7, 1),
        "Salesforce retired API versions 21.0-30.0 with its Summer '25 release, in "
        "production by the end of June 2025",
    ),
}
"""Rule-based: every version older than the first one given is retired by the date."""

LINKEDIN_RULE = "LinkedIn retires a monthly version about 12 months after its release"


@dataclass(frozen=True)
class Sunset:
    """When a version stops working; ``rule`` says how the date was derived (empty when
    the platform announced it)."""

    date: dt.date
    rule: str = ""


def kind_versions(dest: Destination) -> dict[str, tuple[str, str]]:
    """Request kind -> (API name, version in use), for the kinds the destination's
    settings produce. Kinds whose URL fixes its version (HubSpot CRM ``v3``) are left out."""
    unused = set()
    if dest.name == "google_ads":
        classic = GoogleAdsDestination.of(dest).classic
        unused.add("event" if classic else "click_conversion")
    return {
        kind: (e.api, version_for(dest, e.api))
        for (name, kind), e in ENDPOINTS.items()
        if name == dest.name and e.api and kind not in unused
    }


def versions_in_use(dest: Destination) -> dict[str, str]:
    """API name -> version, for the APIs the destination calls, in display order."""
    used = {api for api, _ in kind_versions(dest).values()}
    return {a.name: version_for(dest, a.name) for a in apis_of(dest.name) if a.name in used}


def sunset_of(api: str, version: str) -> Sunset | None:
    """When ``version`` of ``api`` is (or was) sunset, if known."""
    announced = SUNSETS.get(api, {})
    if version in announced:
        return Sunset(announced[version])
    if re.fullmatch(APIS[api].pattern, version) is None:
        return None
    if api == "linkedin":
        year, month = divmod(int(version[:4]) * 12 + int(version[4:]) + 12, 12)
        return Sunset(dt.date(year, month + 1, 1), LINKEDIN_RULE)
    number = _number(version)
    if api in RETIRED_BELOW:
        first, date, rule = RETIRED_BELOW[api]
        if number < _number(first):
            return Sunset(date, rule)
    newer = sorted((d, v) for v, d in announced.items() if number < _number(v))
    if newer:
        date, successor = newer[0]
        return Sunset(date, f"older than {successor}, sunset then")
    return None


def _number(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def _day(today: dt.date) -> dt.date:
    return today.date() if isinstance(today, dt.datetime) else today


def _is_sunset(api: str, version: str, day: dt.date) -> Sunset | None:
    sunset = sunset_of(api, version)
    return sunset if sunset is not None and day >= sunset.date else None


def sunset_problem(
    api: str | Endpoint, version: str, today: dt.date, *, setting: str | None = None
) -> str | None:
    """A message naming the setting to change (default ``api_versions.<api>``) when
    ``version`` is sunset at ``today``."""
    name = api if isinstance(api, str) else api.api
    day = _day(today)
    sunset = _is_sunset(name, version, day)
    if sunset is None:
        return None
    when = f"by {sunset.date} ({sunset.rule})" if sunset.rule else f"on {sunset.date}"
    default = APIS[name].default
    target = (
        "a version the platform still supports"
        if _is_sunset(name, default, day)
        else f"{default} or later"
    )
    return f"{name} {version} was sunset {when}; set {setting or setting_name(name)} to {target}"


def sunset_problems(dest: Destination, today: dt.date) -> list[str]:
    """One message per API the destination calls whose version is sunset at ``today``."""
    single = dest.api_version and len(apis_of(dest.name)) == 1
    setting = f"destinations.{dest.name}.api_version" if single else None
    problems = (
        sunset_problem(api, v, today, setting=setting) for api, v in versions_in_use(dest).items()
    )
    return [p for p in problems if p]


def describe_versions(dest: Destination, today: dt.date) -> str:
    """``API versions: google_ads_api v26, data_manager v1``, with known sunset dates."""
    day = _day(today)
    parts = []
    for api, version in versions_in_use(dest).items():
        sunset = sunset_of(api, version)
        if sunset is None:
            parts.append(f"{api} {version}")
            continue
        verb = "sunset" if day >= sunset.date else "sunsets"
        parts.append(f"{api} {version} ({verb} {'by ' if sunset.rule else ''}{sunset.date})")
    return "API versions: " + (", ".join(parts) or "none")
