"""The versioned platform APIs each destination calls, and the check of their version
settings: ``[destinations.<name>.api_versions] <api> = "<version>"``, or ``api_version``
for a destination that calls a single API."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from trackstack_wh.errors import ConfigError

if TYPE_CHECKING:
    from trackstack_wh.config.destinations import Destination


@dataclass(frozen=True)
class Api:
    """One versioned platform API (host) and where its version goes."""

    name: str
    destination: str
    title: str
    default: str
    pattern: str
    """What a version looks like (a regular expression for the whole string)."""
    carried_in: str = "URL path"


APIS: dict[str, Api] = {
    a.name: a
    for a in (
        Api("meta_graph", "meta", "Meta Marketing API (graph.facebook.com)", "v26.0",
            r"v\d+\.\d+"),
        Api("google_ads_api", "google_ads", "Google Ads API (googleads.googleapis.com)", "v26",
            r"v\d+"),
        Api("data_manager", "google_ads", "Google Data Manager API (datamanager.googleapis.com)",
            "v1", r"v\d+"),
        Api("linkedin", "linkedin", "LinkedIn Marketing API (api.linkedin.com)", "202603",
            r"20\d\d(0[1-9]|1[0-2])", carried_in="LinkedIn-Version header"),
        Api("tiktok", "tiktok", "TikTok Events API (business-api.tiktok.com)", "v1.3",
            r"v\d+\.\d+"),
        Api("snapchat", "snapchat", "Snapchat Conversions API (tr.snapchat.com)", "v3", r"v\d+"),
        Api("reddit", "reddit", "Reddit Conversions API (ads-api.reddit.com)", "v3",
            r"v\d+(\.\d+)?"),
        Api("hubspot_events", "hubspot", "HubSpot custom events API (api.hubapi.com/events)",
            "v3", r"v\d+|20\d\d-(0[1-9]|1[0-2])"),
        Api("salesforce_rest", "salesforce", "Salesforce REST API (instance_url)", "v66.0",
            r"v\d+\.\d"),
    )
}  # fmt: skip
"""Every versioned API, in display order. Defaults, as of December 2026: Google Ads API
v26 (released 2026-10-14, the latest; v22 was sunset 2026-10-07), Meta v26.0 (released
2026-07-29; the Marketing API retires v25.0 on 2027-02-23), LinkedIn 202603 (sunsets
2027-03-16), Salesforce v66.0 (Spring '26; each version is kept at least three years),
and the only or current version elsewhere (Data Manager v1, TikTok v1.3, Snapchat v3,
Reddit v3, HubSpot events v3). HubSpot's own date versions (``2026-03``) are accepted."""


def apis_of(destination: str) -> list[Api]:
    """The versioned APIs a destination may call, in display order."""
    return [a for a in APIS.values() if a.destination == destination]


def setting_name(api: str) -> str:
    """The config key that sets an API's version."""
    return f"destinations.{APIS[api].destination}.api_versions.{api}"


def parse_api_versions(
    where: str, destination: str, api_version: str | None, table: dict[str, Any]
) -> dict[str, str]:
    """Validate ``api_version`` and the ``api_versions`` table of one destination; return
    the explicit version per API name."""
    prefix = f"destinations.{destination}."
    apis = apis_of(destination)
    allowed = ", ".join(a.name for a in apis)
    if api_version is not None:
        if len(apis) != 1:
            examples = " and ".join(f"{prefix}api_versions.{a.name} = {a.default!r}" for a in apis)
            raise ConfigError(
                f"{where}: {prefix}api_version is ambiguous: {destination} calls {len(apis)} "
                f"APIs with their own versions; set {examples} instead"
            )
        if table:
            raise ConfigError(
                f"{where}: {prefix}api_version and {prefix}api_versions are both set; keep "
                f"only {prefix}api_versions.{apis[0].name}"
            )
        _check_format(where, prefix + "api_version", apis[0], api_version)
        return {apis[0].name: api_version}
    versions: dict[str, str] = {}
    for name, value in table.items():
        api = APIS.get(name)
        if api is None or api.destination != destination:
            raise ConfigError(
                f"{where}: unknown key {prefix}api_versions.{name}; allowed: {allowed}"
            )
        _check_format(where, f"{prefix}api_versions.{name}", api, value)
        versions[name] = value
    return versions


def _check_format(where: str, key: str, api: Api, value: Any) -> None:
    if not isinstance(value, str) or re.fullmatch(api.pattern, value) is None:
        raise ConfigError(
            f"{where}: {key} = {value!r} is not a {api.title} version (like {api.default!r})"
        )


def version_for(dest: Destination, api: str) -> str:
    """The version of ``api`` a destination uses: its setting, else the default."""
    explicit = dest.api_versions.get(api)
    if explicit:
        return explicit
    if dest.api_version and len(apis_of(dest.name)) == 1:
        return dest.api_version
    return APIS[api].default
