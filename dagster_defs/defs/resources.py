"""Resources from the environment: $TRACKSTACK_DB, $TRACKSTACK_CONFIG, $TRACKSTACK_CLOCK,
$TRACKSTACK_PLATFORMS (emulator | live | URL), $TRACKSTACK_INBOX / _LANDING / _EXPORT,
and each destination's credentials through ``dg.EnvVar``."""

import os

import dagster as dg

from dagster_defs.lib.resources import (
    CREDENTIAL_KEYS,
    FoldersResource,
    PlatformCredentials,
    PlatformsResource,
    WarehouseResource,
    WorkspaceResource,
)
from trackstack_wh.db import DEFAULT_DB
from trackstack_wh.destinations.config import load_config


def _env_or(name: str, default: str | None) -> str | dg.EnvVar | None:
    """``dg.EnvVar(name)`` when the variable is set (resolved at run time, shown by
    name only), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def platform_credentials(config_path: str | None) -> PlatformCredentials:
    """Every credential variable trackstack.toml names, as an EnvVar when it is set."""
    config = load_config(config_path)
    fields = {}
    for dest in config.destinations.values():
        for key in CREDENTIAL_KEYS:
            variable = dest.settings.get(key)
            field = PlatformCredentials.field_name(dest.name, key)
            if variable and field in PlatformCredentials.model_fields:
                fields[field] = _env_or(variable, None)
    return PlatformCredentials(**fields)


@dg.definitions
def resources() -> dg.Definitions:
    config_path = os.environ.get("TRACKSTACK_CONFIG") or None
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(database=_env_or("TRACKSTACK_DB", str(DEFAULT_DB))),
            "workspace": WorkspaceResource(
                config_path=config_path, clock=_env_or("TRACKSTACK_CLOCK", None)
            ),
            "folders": FoldersResource(
                inbox=_env_or("TRACKSTACK_INBOX", "data/inbox"),
                landing=_env_or("TRACKSTACK_LANDING", "data/landing"),
                export=_env_or("TRACKSTACK_EXPORT", "data/export"),
            ),
            "platforms": PlatformsResource(target=_env_or("TRACKSTACK_PLATFORMS", None)),
            "credentials": platform_credentials(config_path),
        }
    )
