"""``[destinations.<name>]`` tables into typed destinations: the common keys, then each
destination's own settings, checked against their fields' metadata."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import Field
from typing import Any

from trackstack_wh.config.apis import parse_api_versions
from trackstack_wh.config.checks import IdFormat, KeyTypes, env_name, only_keys, strings
from trackstack_wh.config.destinations import (
    CHOICES,
    CRM_DESTINATIONS,
    FORMAT,
    REQUIRED,
    Destination,
)
from trackstack_wh.config.platforms import DESTINATION_TYPES
from trackstack_wh.config.stitching import parse_destination_stitching
from trackstack_wh.contract import EVENTS_BY_NAME, is_extension_name
from trackstack_wh.errors import ConfigError

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
    "stitching": (bool, list),
    "delivery": dict,
}
"""Keys every destination accepts besides its own settings."""

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


def parse_destination(where: str, name: str, raw: Mapping[str, Any]) -> Destination:
    """Validate ``[destinations.<name>]`` (``name`` one of ``DESTINATIONS``)."""
    cls = DESTINATION_TYPES[name]
    prefix = f"destinations.{name}."
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: destinations.{name} must be a table")
    own = {f.name: f for f in cls.setting_fields()}
    only_keys(where, prefix, raw, {**COMMON_KEYS, **{k: _key_type(f) for k, f in own.items()}})
    settings = {k: _setting(where, prefix + k, own[k], v) for k, v in raw.items() if k in own}
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
    age = raw.get("max_event_age_days")
    if age is not None and (isinstance(age, bool) or age <= 0):
        raise ConfigError(f"{where}: {prefix}max_event_age_days must be a positive number of days")
    stitching = None
    if "stitching" in raw:
        stitching = parse_destination_stitching(
            where, prefix + "stitching", raw["stitching"], crm=name in CRM_DESTINATIONS
        )
    delivery = raw.get("delivery", {})
    only_keys(where, prefix + "delivery.", delivery, DELIVERY_KEYS)
    for key, value in delivery.items():
        if isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{where}: {prefix}delivery.{key} must be a positive number")
    base_url = raw.get("base_url")
    if base_url is not None and not re.match(r"https?://[^/\s]+", base_url):
        raise ConfigError(f"{where}: {prefix}base_url = {base_url!r} is not an http(s) URL")
    enabled = raw.get("enabled", False)
    for key, f in own.items():
        if enabled and f.metadata.get(REQUIRED) and not settings.get(key):
            raise ConfigError(f"{where}: {prefix}{key} is required when the destination is enabled")
    versions = parse_api_versions(where, name, raw.get("api_version"), raw.get("api_versions", {}))
    try:
        return cls(
            enabled=enabled,
            api_version=raw.get("api_version"),
            base_url=base_url,
            events=events,
            event_names=dict(mapping),
            test_event_code=raw.get("test_event_code"),
            validate_only=raw.get("validate_only", False),
            max_event_age_days=age,
            stitching=stitching,
            delivery=dict(delivery),
            api_versions=versions,
            **settings,
        )
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def _key_type(f: Field[Any]) -> type:
    if isinstance(f.default, bool):
        return bool
    return str if isinstance(f.default, str) else dict


def _setting(where: str, key: str, f: Field[Any], value: Any) -> Any:
    """One of a destination's own settings, checked against its field's metadata."""
    fmt: IdFormat | None = f.metadata.get(FORMAT)
    if isinstance(value, dict):
        for event, target in value.items():
            _known_event(where, key, event)
            if not isinstance(target, str) or not target.strip():
                raise ConfigError(f"{where}: {key}.{event} must be an ID string")
            if fmt is not None:
                fmt.check(where, f"{key}.{event}", target)
        return dict(value)
    if key.endswith("_env"):
        return env_name(where, key, value)
    choices = f.metadata.get(CHOICES)
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: {key} = {value!r}; allowed: {choices}")
    if fmt is not None and (value or f.default):
        fmt.check(where, key, value)
    return value


def _known_event(where: str, key: str, event: str) -> None:
    if event not in EVENTS_BY_NAME and not is_extension_name(event):
        raise ConfigError(
            f"{where}: {key}: {event!r} is neither a canonical event nor a PascalCase "
            "extension name"
        )
