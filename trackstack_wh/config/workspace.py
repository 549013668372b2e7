"""The workspace config, ``trackstack.toml``: workspace, destinations, sink, projects,
freshness, stitching and ingest limits.

Every key is checked: an unknown key, a wrong type or a bad value raises ConfigError
naming the file, the key and what is allowed. Secrets are never in the file: a
credential is given as the *name* of an environment variable (keys ending in ``_env``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trackstack_wh.config.checks import KeyTypes, domains, only_keys
from trackstack_wh.config.destinations import DESTINATIONS, LIVE, Destination
from trackstack_wh.config.freshness import FreshnessThresholds, parse_freshness
from trackstack_wh.config.ingest import ClientIpPolicy, IngestSettings, parse_ingest
from trackstack_wh.config.parsing import parse_destination
from trackstack_wh.config.privacy import PrivacySettings, parse_privacy
from trackstack_wh.config.sink import (
    Project,
    SinkSettings,
    parse_ip_policy,
    parse_projects,
    parse_sink,
)
from trackstack_wh.config.stitching import StitchSettings, parse_stitching
from trackstack_wh.contract import CURRENCY_CODES
from trackstack_wh.errors import ConfigError

CONFIG_ENV = "TRACKSTACK_CONFIG"
DEFAULT_CONFIG = Path("trackstack.toml")
VALUE_UNITS = ("major", "minor")
SECTIONS: KeyTypes = {
    "workspace": dict,
    "destinations": dict,
    "sink": dict,
    "projects": dict,
    "freshness": dict,
    "stitching": dict,
    "ingest": dict,
    "privacy": dict,
}
WORKSPACE_KEYS: KeyTypes = {
    "allowed_domains": list,
    "phone_region": str,
    "value_unit": str,
    "default_currency": str,
    "client_ip": str,
}


@dataclass(frozen=True)
class WorkspaceConfig:
    """The whole validated config."""

    path: Path | None
    destinations: dict[str, Destination]
    allowed_domains: tuple[str, ...] = ()
    phone_region: str | None = "US"
    value_unit: str = "minor"
    sink: SinkSettings = field(default_factory=SinkSettings)
    projects: dict[str, Project] = field(default_factory=dict)
    default_currency: str | None = None
    """ISO-4217 code for events with a value but no currency (None: such events are
    skipped as ``missing_currency`` where a destination needs a currency)."""
    freshness: FreshnessThresholds = field(default_factory=FreshnessThresholds)
    """``[freshness]``: when a destination's deliveries count as stale."""
    stitching: StitchSettings = field(default_factory=StitchSettings)
    """``[stitching]``: windows and attribution of keys borrowed from a person's events."""
    ingest: IngestSettings = field(default_factory=IngestSettings)
    """``[ingest]``: size limits of file ingest."""
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    """``[privacy]``: default consent answers and limited-data-use regions."""

    def enabled(self) -> list[Destination]:
        """The enabled destinations, in ``DESTINATIONS`` order."""
        return [d for d in self.destinations.values() if d.enabled]

    def credential_envs(self, *, enabled_only: bool = False) -> dict[str, dict[str, str]]:
        """Destination -> {setting key -> environment variable}, for every credential
        variable the config names (``{"google_ads": {"access_token_env": "T_GOOGLE",
        "developer_token_env": "T_DEV"}}``); destinations naming none are left out."""
        chosen = self.enabled() if enabled_only else self.destinations.values()
        envs = {d.name: d.credential_envs() for d in chosen}
        return {name: keys for name, keys in envs.items() if keys}

    def with_secrets(self, secrets: Mapping[str, str]) -> WorkspaceConfig:
        """The same workspace with credentials given by variable name (e.g. resolved by
        Dagster's ``EnvVar``) instead of read from this process's environment."""
        destinations = {
            name: dataclasses.replace(d, secrets={**d.secrets, **secrets})
            for name, d in self.destinations.items()
        }
        return dataclasses.replace(self, destinations=destinations)

    def pointed_at(self, base_url: str, *, target: str | None = None) -> WorkspaceConfig:
        """The same workspace with every destination sent to ``{base_url}/{destination}``
        (a local platform emulator, a proxy), its deliveries booked under ``target``
        (default: the URL prefix itself), never as ``live``."""
        base = base_url.rstrip("/")
        label = target or base
        if label == LIVE:
            raise ConfigError("a redirected workspace cannot be booked as the live target")
        destinations = {
            name: dataclasses.replace(d, base_url=f"{base}/{name}", target=label)
            for name, d in self.destinations.items()
        }
        return dataclasses.replace(self, destinations=destinations)


def resolve_config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """``path``, else $TRACKSTACK_CONFIG, else ./trackstack.toml."""
    return Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)


def load_config(path: str | os.PathLike[str] | None = None) -> WorkspaceConfig:
    """Read and validate the config; a missing default file means "no destinations"."""
    resolved = resolve_config_path(path)
    if not resolved.exists():
        if path is None and CONFIG_ENV not in os.environ:
            return WorkspaceConfig(None, {n: Destination(n).typed() for n in DESTINATIONS})
        raise ConfigError(f"{resolved}: config file not found")
    try:
        data = tomllib.loads(resolved.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{resolved}: not valid TOML: {exc}") from exc
    return parse_config(data, resolved)


def parse_config(data: Mapping[str, Any], path: Path | None = None) -> WorkspaceConfig:
    """Validate a parsed TOML document."""
    where = str(path or "<config>")
    only_keys(where, "", data, SECTIONS)
    workspace = data.get("workspace", {})
    only_keys(where, "workspace.", workspace, WORKSPACE_KEYS)
    unit = workspace.get("value_unit", "minor")
    if unit not in VALUE_UNITS:
        raise ConfigError(f"{where}: workspace.value_unit = {unit!r}; allowed: {VALUE_UNITS}")
    allowed = domains(where, "workspace.allowed_domains", workspace.get("allowed_domains", []))
    region = workspace.get("phone_region", "US")
    if not re.fullmatch(r"[A-Z]{2}|none", region):
        raise ConfigError(
            f"{where}: workspace.phone_region = {region!r}; use an ISO country code like "
            "'US' or 'none'"
        )
    currency = workspace.get("default_currency")
    if currency is not None and currency not in CURRENCY_CODES:
        raise ConfigError(
            f"{where}: workspace.default_currency = {currency!r}; use an ISO-4217 code like 'USD'"
        )
    client_ip = parse_ip_policy(where, "workspace.", workspace.get("client_ip", "truncate"))
    projects = parse_projects(where, data.get("projects", {}), allowed, client_ip)
    ingest = dataclasses.replace(
        parse_ingest(where, data.get("ingest", {})),
        client_ip=ClientIpPolicy(
            client_ip,
            tuple((p, s.client_ip) for p, s in projects.items()),
            tuple((n, p) for p, s in projects.items() for ns in s.key_envs.values() for n in ns),
        ),
    )
    privacy = parse_privacy(where, data.get("privacy", {}))
    raw_destinations = data.get("destinations", {})
    unknown = sorted(set(raw_destinations) - set(DESTINATIONS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown destination(s) {unknown}; allowed: {sorted(DESTINATIONS)}"
        )
    destinations = {
        name: parse_destination(where, name, raw_destinations.get(name, {}))
        for name in DESTINATIONS
    }
    return WorkspaceConfig(
        path,
        destinations,
        allowed,
        None if region == "none" else region,
        unit,
        parse_sink(where, data.get("sink", {})),
        projects,
        default_currency=currency,
        freshness=parse_freshness(where, data.get("freshness", {})),
        stitching=dataclasses.replace(
            parse_stitching(where, data.get("stitching", {})),
            default_ad_use=privacy.default_ad_user_data,
        ),
        ingest=ingest,
        privacy=privacy,
    )
