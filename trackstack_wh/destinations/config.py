"""The workspace config, ``trackstack.toml``: destinations, mapping overrides, routing.

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

from trackstack_wh.contract import CURRENCY_CODES, EVENTS_BY_NAME, is_extension_name
from trackstack_wh.destinations.mapping import DESTINATIONS, ID_MAPPED
from trackstack_wh.destinations.versions import parse_api_versions
from trackstack_wh.errors import ConfigError
from trackstack_wh.sink.settings import Project, SinkSettings, parse_projects, parse_sink
from trackstack_wh.tomlcheck import KeyTypes, domains, env_name, only_keys, strings

CONFIG_ENV = "TRACKSTACK_CONFIG"
DEFAULT_CONFIG = Path("trackstack.toml")
VALUE_UNITS = ("major", "minor")
LIVE = "live"
"""The delivery target of a config's own endpoints."""
EMULATOR_TARGET = "emulator"
"""The delivery target of the local platform emulator's deliveries."""

COMMON_KEYS: KeyTypes = {
    "enabled": bool,
    "api_version": str,
    "api_versions": dict,
    "base_url": str,
    "events": list,
    "event_names": dict,
    "test_event_code": str,
    "validate_only": bool,
    "max_event_age_days": (int, float),
    "delivery": dict,
}
"""Keys every destination accepts."""

DELIVERY_KEYS: KeyTypes = {
    "requests_per_second": (int, float),
    "concurrency": int,
    "batch_size": int,
    "max_attempts": int,
    "timeout_seconds": (int, float),
    "retry_base_seconds": (int, float),
    "retry_max_seconds": (int, float),
    "max_runs": int,
    "run_retry_base_seconds": (int, float),
    "run_retry_max_seconds": (int, float),
    "max_api_share": (int, float),
}
"""``[destinations.<name>.delivery]``: pacing and retries (defaults per platform)."""

DESTINATION_KEYS: dict[str, KeyTypes] = {
    "meta": {"pixel_id": str, "access_token_env": str},
    "google_ads": {
        "customer_id": str, "login_customer_id": str, "conversion_actions": dict,
        "api": str, "access_token_env": str, "developer_token_env": str,
    },
    "linkedin": {"conversion_rules": dict, "access_token_env": str},
    "tiktok": {"pixel_code": str, "access_token_env": str},
    "snapchat": {"pixel_id": str, "access_token_env": str},
    "reddit": {"pixel_id": str, "access_token_env": str},
    "hubspot": {
        "portal_id": str, "access_token_env": str, "deal_id_property": str, "won_stage": str,
        "refund_stage": str, "pipeline": str, "churn_property": str,
    },
    "salesforce": {
        "instance_url": str, "access_token_env": str, "lead_external_id_field": str,
        "opportunity_external_id_field": str, "won_stage": str, "refund_stage": str,
        "currency_field": str,
    },
}  # fmt: skip
"""Destination-specific keys (account IDs, ID tables, credential variable names)."""

REQUIRED_ACCOUNT_KEY = {
    "meta": "pixel_id",
    "google_ads": "customer_id",
    "tiktok": "pixel_code",
    "snapchat": "pixel_id",
    "reddit": "pixel_id",
    "hubspot": "portal_id",
    "salesforce": "instance_url",
}
"""The account identifier an enabled destination must have (LinkedIn's is per rule)."""

GOOGLE_ADS_APIS = ("data_manager", "upload_click_conversions")
WORKSPACE_KEYS: KeyTypes = {
    "allowed_domains": list,
    "phone_region": str,
    "value_unit": str,
    "default_currency": str,
}


@dataclass(frozen=True)
class Destination:
    """One destination's validated settings."""

    name: str
    enabled: bool = False
    api_version: str | None = None
    base_url: str | None = None
    events: tuple[str, ...] | None = None
    event_names: dict[str, str] = field(default_factory=dict)
    test_event_code: str | None = None
    validate_only: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    max_event_age_days: float | None = None
    delivery: dict[str, float] = field(default_factory=dict)
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Credentials handed in by an orchestrator, by variable name; they win over the
    environment (``WorkspaceConfig.with_secrets``)."""
    target: str = LIVE
    """Where requests go: ``live`` (the endpoints this config names), ``emulator`` or the
    URL prefix of a proxy or test endpoint (``WorkspaceConfig.pointed_at``). Deliveries
    are kept per target: only ``live`` ones count as delivered to the platform."""
    api_versions: dict[str, str] = field(default_factory=dict)
    """Version per API name, from ``api_versions`` (or ``api_version`` when the destination
    calls one API); unlisted APIs use ``versions.APIS`` defaults."""

    def secret(self, key: str = "access_token_env") -> str | None:
        """The credential named by ``key``: handed in, else from the environment (None
        when unset)."""
        name = self.settings.get(key)
        if not name:
            return None
        return self.secrets.get(name) or os.environ.get(name)

    def secret_names(self) -> list[str]:
        """The environment-variable names of this destination's credentials."""
        return [v for k, v in self.settings.items() if k.endswith("_env") and v]


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

    def enabled(self) -> list[Destination]:
        return [d for d in self.destinations.values() if d.enabled]

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
            return WorkspaceConfig(None, {n: Destination(n) for n in DESTINATIONS})
        raise ConfigError(f"{resolved}: config file not found")
    try:
        data = tomllib.loads(resolved.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{resolved}: not valid TOML: {exc}") from exc
    return parse_config(data, resolved)


def parse_config(data: dict[str, Any], path: Path | None = None) -> WorkspaceConfig:
    """Validate a parsed TOML document."""
    where = str(path or "<config>")
    only_keys(
        where, "", data, {"workspace": dict, "destinations": dict, "sink": dict, "projects": dict}
    )
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
    raw_destinations = data.get("destinations", {})
    unknown = sorted(set(raw_destinations) - set(DESTINATIONS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown destination(s) {unknown}; allowed: {sorted(DESTINATIONS)}"
        )
    destinations = {
        name: _destination(where, name, raw_destinations.get(name, {})) for name in DESTINATIONS
    }
    return WorkspaceConfig(
        path,
        destinations,
        allowed,
        None if region == "none" else region,
        unit,
        parse_sink(where, data.get("sink", {})),
        parse_projects(where, data.get("projects", {}), allowed),
        default_currency=currency,
    )


def _destination(where: str, name: str, raw: dict[str, Any]) -> Destination:
    prefix = f"destinations.{name}."
    allowed = {**COMMON_KEYS, **DESTINATION_KEYS[name]}
    only_keys(where, prefix, raw, allowed)
    settings = {k: v for k, v in raw.items() if k not in COMMON_KEYS}
    for key, value in settings.items():
        if key.endswith("_env"):
            env_name(where, prefix + key, value)
    events = raw.get("events")
    if events is not None:
        events = tuple(strings(where, prefix + "events", events))
        for event in events:
            _known_event(where, prefix + "events", event)
    mapping = raw.get("event_names", {})
    for event, target in mapping.items():
        _known_event(where, prefix + "event_names", event)
        if not isinstance(target, str) or not target:
            raise ConfigError(f"{where}: {prefix}event_names.{event} must be a non-empty string")
    if name in ID_MAPPED:
        for event, target in settings.get(ID_MAPPED[name], {}).items():
            _known_event(where, prefix + ID_MAPPED[name], event)
            if not isinstance(target, str) or not target.strip():
                raise ConfigError(
                    f"{where}: {prefix}{ID_MAPPED[name]}.{event} must be an ID string"
                )
    age = raw.get("max_event_age_days")
    if age is not None and (isinstance(age, bool) or age <= 0):
        raise ConfigError(f"{where}: {prefix}max_event_age_days must be a positive number of days")
    delivery = raw.get("delivery", {})
    only_keys(where, prefix + "delivery.", delivery, DELIVERY_KEYS)
    for key, value in delivery.items():
        if isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{where}: {prefix}delivery.{key} must be a positive number")
    if name == "google_ads" and settings.get("api", "data_manager") not in GOOGLE_ADS_APIS:
        raise ConfigError(f"{where}: {prefix}api; allowed: {GOOGLE_ADS_APIS}")
    base_url = raw.get("base_url")
    if base_url is not None and not re.match(r"https?://[^/\s]+", base_url):
        raise ConfigError(f"{where}: {prefix}base_url = {base_url!r} is not an http(s) URL")
    enabled = raw.get("enabled", False)
    account = REQUIRED_ACCOUNT_KEY.get(name)
    if enabled and account and not settings.get(account):
        raise ConfigError(f"{where}: {prefix}{account} is required when the destination is enabled")
    versions = parse_api_versions(where, name, raw.get("api_version"), raw.get("api_versions", {}))
    return Destination(
        name,
        enabled,
        raw.get("api_version"),
        base_url,
        events,
        dict(mapping),
        raw.get("test_event_code"),
        raw.get("validate_only", False),
        settings,
        age,
        dict(delivery),
        api_versions=versions,
    )


def _known_event(where: str, key: str, event: str) -> None:
    if event not in EVENTS_BY_NAME and not is_extension_name(event):
        raise ConfigError(
            f"{where}: {key}: {event!r} is neither a canonical event nor a PascalCase "
            "extension name"
        )
