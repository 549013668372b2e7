"""The HTTP sink's settings and projects, from ``[sink]`` and ``[projects.<id>]``.

    [sink]
    max_body_bytes = 1048576          # larger requests get 413
    max_events_per_request = 1000     # more events in one request get 413
    segment_max_bytes = 67108864      # a landing segment is closed at this size ...
    segment_max_age_seconds = 60      # ... or this age, whichever comes first,
    segment_idle_seconds = 5          # ... or once no batch has come for this long
    forwarded_allow_ips = []          # proxies whose X-Forwarded-For is trusted
    max_depth = 64                    # arrays/objects nested deeper get 400 too_deep
    body_timeout_seconds = 30         # a body not all there by then gets 408
    max_connections = 1000            # beyond this, new requests get 503 (uvicorn)

    [projects.acme]
    allowed_origins = ["app.acme.com", "*.acme.com"]   # default: workspace.allowed_domains
    daily_event_quota = 5000000       # events per UTC day; omit for no quota
    client_ip = "truncate"            # truncate | full | drop (default: workspace.client_ip)
    publishable_key_env = "TRACKSTACK_ACME_PUBLISHABLE_KEY"   # browsers (SDK publicKey)
    secret_key_env = "TRACKSTACK_ACME_SECRET_KEY"             # servers

Keys are read from the named environment variables when the sink starts (a list of
names allows rotation); the file never holds a key.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from trackstack_wh.config.checks import KeyTypes, domains, env_name, only_keys
from trackstack_wh.errors import ConfigError

PROJECT_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
KEY_TEXT = re.compile(r"[A-Za-z0-9_.~-]{16,256}")
"""What a key may look like: at least 16 URL-safe characters (so it is never JSON-escaped)."""

SINK_KEYS: KeyTypes = {
    "max_body_bytes": int,
    "max_events_per_request": int,
    "segment_max_bytes": int,
    "segment_max_age_seconds": (int, float),
    "segment_idle_seconds": (int, float),
    "forwarded_allow_ips": list,
    "max_depth": int,
    "body_timeout_seconds": (int, float),
    "max_connections": int,
}
PROJECT_KEYS: KeyTypes = {
    "allowed_origins": list,
    "daily_event_quota": int,
    "client_ip": str,
    "publishable_key_env": (str, list),
    "secret_key_env": (str, list),
}


class KeyKind(StrEnum):
    """Publishable keys ship in browser code; secret keys stay on servers."""

    PUBLISHABLE = "publishable"
    SECRET = "secret"


class IpPolicy(StrEnum):
    """What happens to client IP addresses before they are written to landing."""

    TRUNCATE = "truncate"
    """IPv4 to /24, IPv6 to /48 (the default)."""
    FULL = "full"
    """Kept whole, e.g. for Meta's client_ip_address match key."""
    DROP = "drop"


@dataclass(frozen=True)
class SinkSettings:
    """Limits of the HTTP sink and its landing segments."""

    max_body_bytes: int = 1 << 20
    max_events_per_request: int = 1000
    segment_max_bytes: int = 64 << 20
    segment_max_age_seconds: float = 60.0
    """The longest a segment stays open (events wait in it until it is closed)."""
    segment_idle_seconds: float = 5.0
    """A segment no batch was added to for this long is closed, so a quiet sink does
    not hold events back for the whole ``segment_max_age_seconds``."""
    forwarded_allow_ips: tuple[str, ...] = ()
    max_depth: int = 64
    """Arrays and objects nested deeper than this (the body's own ``{"events": [...]}``
    counts as two levels) are refused before the body is parsed."""
    body_timeout_seconds: float = 30.0
    """The whole body must arrive within this many seconds of the request's headers."""
    max_connections: int = 1000
    """Open connections beyond which uvicorn answers new requests 503 (``limit_concurrency``)."""


@dataclass(frozen=True)
class Project:
    """A tenant of the sink: its origins, quota, IP policy and key variable names."""

    project_id: str
    allowed_origins: tuple[str, ...] = ()
    daily_event_quota: int | None = None
    client_ip: IpPolicy = IpPolicy.TRUNCATE
    key_envs: dict[KeyKind, tuple[str, ...]] = field(default_factory=dict)


def parse_sink(where: str, raw: Mapping[str, Any]) -> SinkSettings:
    """Validate ``[sink]``."""
    only_keys(where, "sink.", raw, SINK_KEYS)
    for key, value in raw.items():
        if key != "forwarded_allow_ips" and not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{where}: sink.{key} must be a positive number")
    ips = raw.get("forwarded_allow_ips", [])
    if not all(isinstance(v, str) and v for v in ips):
        raise ConfigError(f"{where}: sink.forwarded_allow_ips must be a list of IPs or networks")
    defaults = SinkSettings()
    return SinkSettings(
        max_body_bytes=raw.get("max_body_bytes", defaults.max_body_bytes),
        max_events_per_request=raw.get("max_events_per_request", defaults.max_events_per_request),
        segment_max_bytes=raw.get("segment_max_bytes", defaults.segment_max_bytes),
        segment_max_age_seconds=float(
            raw.get("segment_max_age_seconds", defaults.segment_max_age_seconds)
        ),
        segment_idle_seconds=float(raw.get("segment_idle_seconds", defaults.segment_idle_seconds)),
        forwarded_allow_ips=tuple(ips),
        max_depth=raw.get("max_depth", defaults.max_depth),
        body_timeout_seconds=float(raw.get("body_timeout_seconds", defaults.body_timeout_seconds)),
        max_connections=raw.get("max_connections", defaults.max_connections),
    )


def parse_projects(
    where: str,
    raw: Mapping[str, Any],
    default_origins: tuple[str, ...],
    default_ip: IpPolicy = IpPolicy.TRUNCATE,
) -> dict[str, Project]:
    """Validate ``[projects.<id>]`` tables (``client_ip`` defaults to ``default_ip``,
    ``workspace.client_ip``)."""
    projects: dict[str, Project] = {}
    for project_id, table in raw.items():
        prefix = f"projects.{project_id}."
        if not PROJECT_ID.fullmatch(project_id):
            raise ConfigError(
                f"{where}: projects.{project_id}: a project id is lowercase letters, digits, "
                "'-' and '_' (up to 63 characters)"
            )
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: projects.{project_id} must be a table")
        only_keys(where, prefix, table, PROJECT_KEYS)
        origins = domains(where, prefix + "allowed_origins", table.get("allowed_origins", []))
        quota = table.get("daily_event_quota")
        if quota is not None and quota <= 0:
            raise ConfigError(f"{where}: {prefix}daily_event_quota must be a positive integer")
        policy = parse_ip_policy(where, prefix, table.get("client_ip", default_ip.value))
        key_envs: dict[KeyKind, tuple[str, ...]] = {}
        for kind in KeyKind:
            value = table.get(f"{kind.value}_key_env", [])
            names = [value] if isinstance(value, str) else value
            key_envs[kind] = tuple(env_name(where, f"{prefix}{kind}_key_env", n) for n in names)
        if not any(key_envs.values()):
            raise ConfigError(
                f"{where}: projects.{project_id} needs publishable_key_env or secret_key_env"
            )
        if key_envs[KeyKind.PUBLISHABLE] and not (origins or default_origins):
            raise ConfigError(
                f"{where}: projects.{project_id} has a publishable key but no allowed_origins "
                "(nor workspace.allowed_domains): browsers could not send from anywhere"
            )
        projects[project_id] = Project(
            project_id, origins or default_origins, quota, IpPolicy(policy), key_envs
        )
    return projects


def parse_ip_policy(where: str, prefix: str, value: Any) -> IpPolicy:
    """A ``client_ip`` setting (``prefix``: ``workspace.`` or ``projects.<id>.``)."""
    if value not in IpPolicy.__members__.values():
        allowed = [p.value for p in IpPolicy]
        raise ConfigError(f"{where}: {prefix}client_ip = {value!r}; allowed: {allowed}")
    return IpPolicy(value)


@dataclass(frozen=True)
class ProjectKey:
    """One key as the sink holds it in memory."""

    secret: bytes
    project: Project
    kind: KeyKind


def load_keys(
    projects: Mapping[str, Project], env: Mapping[str, str] | None = None
) -> list[ProjectKey]:
    """Every project's keys from the environment; a missing or malformed variable is a
    ConfigError naming the variable (never its value)."""
    env = dict(os.environ) if env is None else env
    keys: list[ProjectKey] = []
    problems: list[str] = []
    for project in projects.values():
        for kind, names in project.key_envs.items():
            for name in names:
                value = env.get(name, "")
                if not value:
                    problems.append(f"${name} ({project.project_id} {kind} key) is not set")
                elif not KEY_TEXT.fullmatch(value):
                    problems.append(f"${name} must be 16-256 characters of A-Z a-z 0-9 _ . ~ -")
                else:
                    keys.append(ProjectKey(value.encode(), project, kind))
    if problems:
        raise ConfigError("the sink cannot start: " + "; ".join(problems))
    if not keys:
        raise ConfigError(
            "the sink cannot start: no project has a key; add [projects.<id>] with "
            "publishable_key_env / secret_key_env to trackstack.toml"
        )
    if len({k.secret for k in keys}) != len(keys):
        raise ConfigError("the sink cannot start: two key variables hold the same key")
    return keys
