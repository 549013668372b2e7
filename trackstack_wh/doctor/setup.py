"""Doctor checks of the config and the environment: the sink's project keys, each
enabled destination's credentials (tried with ``--online``) and the API versions in use.
Keys and credentials are named by their environment variable, never shown."""

from __future__ import annotations

import datetime as dt
import os

from trackstack_wh.config import KeyKind, load_keys
from trackstack_wh.config.destinations import STATIC
from trackstack_wh.config.sink import KEY_TEXT
from trackstack_wh.doctor.report import FAIL, OK, WARN, Check
from trackstack_wh.doctor.scope import Scope
from trackstack_wh.errors import ConfigError
from trackstack_wh.payloads.versions import sunset_of, sunset_problems, versions_in_use

SUNSET_SOON_DAYS = 90
"""An API version sunsetting within this many days is a warning."""
CONFIG_FILE = "trackstack.toml"


def config_name(scope: Scope) -> str:
    """The config file's name, for fixes."""
    return str(scope.config.path or CONFIG_FILE)


def no_destination(name: str, scope: Scope) -> Check:
    """The warning every destination check gives when none is enabled."""
    return Check(
        name, WARN, "no destination is enabled: nothing will be sent",
        f"set enabled = true and the account IDs of a [destinations.<name>] in "
        f"{config_name(scope)} (README: Destinations and payloads)",
    )  # fmt: skip


def sink_keys(scope: Scope) -> Check:
    """Every ``[projects.<id>]`` names its key variables, and each is set and well formed."""
    projects = scope.config.projects
    if not projects:
        return Check(
            "sink_keys", WARN,
            "no [projects.<id>] in the config: the HTTP sink has no key to accept events with",
            f'add [projects.app] with publishable_key_env = "TRACKSTACK_APP_PUBLISHABLE_KEY" '
            f"(and allowed_origins) to {config_name(scope)}, then export that variable",
        )  # fmt: skip
    unset: list[str] = []
    malformed: list[str] = []
    named: list[str] = []
    for project in projects.values():
        for kind in KeyKind:
            for name in project.key_envs.get(kind, ()):
                value = os.environ.get(name, "")
                named.append(f"${name} ({project.project_id} {kind})")
                if not value:
                    unset.append(name)
                elif not KEY_TEXT.fullmatch(value):
                    malformed.append(name)
    if unset or malformed:
        parts = [f"{', '.join(f'${n}' for n in unset)} not set"] if unset else []
        parts += [f"${n} is not 16-256 characters of A-Z a-z 0-9 _ . ~ -" for n in malformed]
        return Check(
            "sink_keys", FAIL,
            f"{'; '.join(parts)}: `trackstack-wh serve` cannot start",
            f"export {', '.join(unset + malformed)} (16-256 URL-safe characters each, e.g. from "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`) where the sink runs",
        )  # fmt: skip
    try:
        load_keys(projects)
    except ConfigError as exc:
        return Check("sink_keys", FAIL, str(exc), "give every key variable its own key")
    return Check("sink_keys", OK, f"{len(named)} key(s) set: {', '.join(named)}")


def destination_credentials(scope: Scope) -> Check:
    """Each enabled destination's credential variables are set; with ``online``, the
    platforms accept them (the push's own credential check)."""
    enabled = scope.enabled()
    if not enabled:
        return no_destination("destination_credentials", scope)
    from trackstack_wh.delivery.plan import missing_secrets  # pulls in httpx: imported here

    problems: dict[str, str] = {}
    unset: list[str] = []
    unnamed: list[str] = []
    for dest in enabled:
        missing = missing_secrets(dest)
        if missing:
            problems[dest.name] = f"{', '.join(f'${n}' for n in missing)} not set"
            unset += missing
        elif dest.auth == STATIC and not dest.credential_envs().get("access_token_env"):
            problems[dest.name] = "no access token variable named"
            unnamed.append(f"destinations.{dest.name}.access_token_env")
    if problems:
        fixes = [f"export {', '.join(dict.fromkeys(unset))} where pushes run"] if unset else []
        fixes += [f"name the token's variable in {key}" for key in unnamed]
        detail = "; ".join(f"{d}: {p}" for d, p in problems.items())
        return Check("destination_credentials", FAIL, detail, "; ".join(fixes))
    if not scope.online:
        return Check(
            "destination_credentials", OK,
            f"every credential variable of {len(enabled)} enabled destination(s) is set "
            "(not tried: --online tries each with the platform)",
        )  # fmt: skip
    return _tried(scope)


def _tried(scope: Scope) -> Check:
    from trackstack_wh.delivery.credentials import check_credentials

    results = check_credentials(scope.config, scope.transport)
    failed = [r for r in results if not r.ok]
    if not failed:
        names = ", ".join(r.destination for r in results)
        detail = f"every platform accepted its credential: {names}"
        return Check("destination_credentials", OK, detail)
    detail = "; ".join(f"{r.destination}: {r.status}: {r.message}" for r in failed)
    fix = "; ".join(f"{r.destination}: {r.fix}" for r in failed)
    return Check("destination_credentials", FAIL, detail, fix)


def api_versions(scope: Scope) -> Check:
    """No enabled destination calls an API version that is sunset (fail) or sunsets
    within ``SUNSET_SOON_DAYS`` (warn) at the clock's date."""
    today = scope.as_of.date()
    sunset = [p for dest in scope.enabled() for p in sunset_problems(dest, today)]
    if sunset:
        settings = [p.split("; set ", 1)[-1] for p in sunset]
        return Check("api_versions", FAIL, "; ".join(sunset), "set " + "; ".join(settings))
    upcoming: list[tuple[dt.date, str, str]] = []
    for dest in scope.enabled():
        for api, version in versions_in_use(dest).items():
            when = sunset_of(api, version)
            if when is not None:
                label = version if api == dest.name else f"{api} {version}"
                upcoming.append((when.date, dest.name, label))
    upcoming.sort()
    soon = [u for u in upcoming if (u[0] - today).days <= SUNSET_SOON_DAYS]
    if soon:
        listed = ", ".join(f"{d}: {v} sunsets {day}" for day, d, v in soon)
        return Check(
            "api_versions", WARN, listed,
            "move each to a newer version in [destinations.<name>.api_versions] before that date",
        )  # fmt: skip
    if not scope.enabled():
        return Check("api_versions", OK, "no destination is enabled")
    nxt = ""
    if upcoming:
        day, name, label = upcoming[0]
        nxt = f"; next sunset: {name} {label} on {day}"
    return Check("api_versions", OK, f"every API version in use is supported on {today}{nxt}")
