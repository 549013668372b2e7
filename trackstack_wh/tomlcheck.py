"""Checks shared by every section of ``trackstack.toml``: each names the file and the key."""

from __future__ import annotations

import re
from typing import Any

from trackstack_wh.errors import ConfigError

ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
DOMAIN = re.compile(
    r"(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+"
)
"""A lowercase domain (``acme.com``) or a subdomain pattern (``*.acme.com``)."""

KeyTypes = dict[str, type | tuple[type, ...]]


def only_keys(where: str, prefix: str, raw: dict[str, Any], allowed: KeyTypes) -> None:
    """Every key of ``raw`` is allowed and has its type."""
    for key, value in raw.items():
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {prefix}{key}; allowed: {', '.join(sorted(allowed))}"
            )
        expected = allowed[key]
        # TOML booleans are ints to isinstance; a number key never takes true/false.
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
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
