"""``[destinations.<name>]``: one typed, frozen settings class per destination.

The settings every destination takes are on ``Destination``; each subclass adds the
destination's own keys (account IDs, per-event ID tables, credential variable names,
options) as typed fields, an ID's format in the field's ``format`` metadata. A string
setting left out of the file is ``""``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, Self

from trackstack_wh.config.checks import (
    IdFormat,
)
from trackstack_wh.config.stitching import STITCH_CLASSES
from trackstack_wh.errors import ConfigError

LIVE = "live"
"""The delivery target of a config's own endpoints."""
EMULATOR_TARGET = "emulator"
"""The delivery target of the local platform emulator's deliveries."""

AD_DESTINATIONS = ("meta", "google_ads", "linkedin", "tiktok", "snapchat", "reddit")
CRM_DESTINATIONS = ("hubspot", "salesforce")
ANALYTICS_DESTINATIONS = ("posthog",)
"""Product analytics: every canonical event by default, person profiles from identify."""
DESTINATIONS = AD_DESTINATIONS + CRM_DESTINATIONS + ANALYTICS_DESTINATIONS

FORMAT = "format"
"""Field metadata: the ``IdFormat`` a setting's value must have."""
REQUIRED = "required"
"""Field metadata: the setting must be given when the destination is enabled."""
CHOICES = "choices"
"""Field metadata: the values a setting may take."""


STATIC = "static"
OAUTH_REFRESH = "oauth_refresh"
JWT_BEARER = "jwt_bearer"
SERVICE_ACCOUNT = "service_account"
AUTH_SETTING = "auth_setting"
"""Field metadata: a credential setting (which ``auth`` mode reads it: ``AUTH_KEYS``);
payloads never depend on it."""
AUTH_KEYS: dict[str, tuple[str, ...]] = {
    STATIC: ("access_token_env",),
    OAUTH_REFRESH: ("client_id_env", "client_secret_env", "refresh_token_env", "token_url"),
    JWT_BEARER: ("client_id_env", "private_key_env", "username", "login_url", "token_url"),
    SERVICE_ACCOUNT: ("service_account_env", "token_url"),
}
"""The settings each ``auth`` mode reads (``developer_token_env`` and ``check_url`` go with
every mode)."""
DEFAULT_ENV_SUFFIX = {
    "client_id_env": "CLIENT_ID",
    "client_secret_env": "CLIENT_SECRET",
    "refresh_token_env": "REFRESH_TOKEN",
    "private_key_env": "PRIVATE_KEY_FILE",
    "service_account_env": "SERVICE_ACCOUNT_FILE",
}
"""``TRACKSTACK_<PLATFORM>_<suffix>``: the variable a credential key names by default."""
ENV_PREFIX = {
    "meta": "TRACKSTACK_META",
    "google_ads": "TRACKSTACK_GOOGLE",
    "linkedin": "TRACKSTACK_LINKEDIN",
    "tiktok": "TRACKSTACK_TIKTOK",
    "snapchat": "TRACKSTACK_SNAPCHAT",
    "reddit": "TRACKSTACK_REDDIT",
    "hubspot": "TRACKSTACK_HUBSPOT",
    "salesforce": "TRACKSTACK_SALESFORCE",
    "posthog": "TRACKSTACK_POSTHOG",
}
SALESFORCE_LOGIN = "https://login.salesforce.com"
URL = IdFormat(
    "http(s) URL",
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[^\s?#]*)?",
    "http:// or https://, a host, an optional port and path; no query or fragment",
    "https://login.salesforce.com",
)
CHECK_URL = IdFormat(
    "http(s) URL",
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[^\s#]*)?",
    "http:// or https://, a host, an optional port, path and query",
    "https://api.linkedin.com/rest/adAccountUsers?q=authenticatedUser",
)
USERNAME = IdFormat(
    "Salesforce username", r"[^@\s]+@[^@\s]+", "an e-mail-shaped user name",
    "integration@acme.com",
)  # fmt: skip


def auth_choice(*modes: str) -> str:
    """The ``auth`` setting of a destination that supports ``modes`` (the first is the
    default)."""
    return field(default=modes[0], metadata={CHOICES: modes, AUTH_SETTING: True})


def auth_key(fmt: IdFormat | None = None) -> str:
    """A credential setting (``""`` when not given: its default applies)."""
    metadata: dict[str, object] = {AUTH_SETTING: True}
    if fmt is not None:
        metadata[FORMAT] = fmt
    return field(default="", metadata=metadata)


def account_id(fmt: IdFormat, *, required: bool = False) -> str:
    """A string setting holding an account ID of ``fmt`` (``""`` when not given)."""
    return field(default="", metadata={FORMAT: fmt, REQUIRED: required})


def named(default: str, fmt: IdFormat) -> str:
    """A string setting with a default whose value must have ``fmt``."""
    return field(default=default, metadata={FORMAT: fmt})


def _no_ids() -> dict[str, str]:
    return {}


def id_table(fmt: IdFormat) -> dict[str, str]:
    """A table of canonical event -> platform ID (of ``fmt``)."""
    return field(default_factory=_no_ids, metadata={FORMAT: fmt})


@dataclass(frozen=True, kw_only=True)
class Destination:
    """The settings every destination takes. ``Destination(name)`` is a destination with
    nothing configured; ``DESTINATION_TYPES[name]`` is its typed class."""

    name: str = field(kw_only=False)
    enabled: bool = False
    api_version: str | None = None
    base_url: str | None = None
    events: tuple[str, ...] | None = None
    event_names: dict[str, str] = field(default_factory=dict)
    test_event_code: str | None = None
    validate_only: bool = False
    max_event_age_days: float | None = None
    stitching: tuple[str, ...] | None = None
    """What the destination takes from the event's person when the event lacks it
    (``config.stitching.STITCH_CLASSES``); None: the default (every class for an ad
    platform, none for a CRM), `stitch_classes`."""
    delivery: dict[str, float] = field(default_factory=dict)
    access_token_env: str = field(default="", metadata={AUTH_SETTING: True})
    """The environment variable holding the API access token (``auth = "static"``)."""
    auth: str = auth_choice(STATIC)
    """How the access token is had: ``static`` (``access_token_env``), ``oauth_refresh``
    (renewed from a refresh token), ``jwt_bearer`` (Salesforce) or ``service_account``
    (Google); the modes a destination supports are its field's ``CHOICES``."""
    client_id_env: str = auth_key()
    client_secret_env: str = auth_key()
    refresh_token_env: str = auth_key()
    private_key_env: str = auth_key()
    """``jwt_bearer``: the variable naming the PEM file of the RSA private key."""
    service_account_env: str = auth_key()
    """``service_account``: the variable naming the service-account JSON key file."""
    token_url: str = auth_key(URL)
    """The token endpoint (default: the platform's, ``delivery.platform_auth``)."""
    login_url: str = auth_key(URL)
    """``jwt_bearer``: the JWT audience and login host (default ``SALESFORCE_LOGIN``)."""
    username: str = auth_key(USERNAME)
    """``jwt_bearer``: the Salesforce user the JWT asserts."""
    check_url: str = auth_key(CHECK_URL)
    """The credential check's GET URL (default: the platform's cheapest authenticated
    call, ``delivery.platform_auth``)."""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
    """Credentials handed in by an orchestrator, by variable name; they win over the
    environment (``WorkspaceConfig.with_secrets``)."""
    target: str = LIVE
    """Where requests go: ``live`` (the endpoints this config names), ``emulator`` or the
    URL prefix of a proxy or test endpoint (``WorkspaceConfig.pointed_at``). Deliveries
    are kept per target: only ``live`` ones count as delivered to the platform."""
    api_versions: dict[str, str] = field(default_factory=dict)
    """Version per API name, from ``api_versions`` (or ``api_version`` when the destination
    calls one API); unlisted APIs use ``config.apis.APIS`` defaults."""

    def __post_init__(self) -> None:
        if type(self) is not Destination and destination_types().get(self.name) is not type(self):
            raise ValueError(f"{type(self).__name__} cannot be named {self.name!r}")
        if type(self) is not Destination:
            check_auth(self)

    @classmethod
    def setting_fields(cls) -> list[Field[Any]]:
        """The fields of the destination's own keys (IDs, credentials, options): each a
        string, or an ID table when its default is a table."""
        return [f for f in fields(cls) if f.name not in NOT_SETTINGS]

    @classmethod
    def of(cls, dest: Destination) -> Self:
        """``dest`` as this class (``GoogleAdsDestination.of(dest).api``); TypeError when
        it is another destination."""
        typed = dest.typed()
        if not isinstance(typed, cls):
            raise TypeError(f"destination {dest.name!r} is not a {cls.__name__}")
        return typed

    def typed(self) -> Destination:
        """This destination as its typed class (a bare ``Destination(name)`` gets that
        class's defaults)."""
        cls = destination_types().get(self.name)
        if cls is None or isinstance(self, cls):
            return self
        common = {f.name: getattr(self, f.name) for f in fields(Destination) if f.name != "name"}
        return cls(**common)

    def credential_envs(self) -> dict[str, str]:
        """Setting key -> the environment variable it names, for every credential the
        destination's ``auth`` mode reads: ``access_token_env`` (static, when named),
        the mode's own keys (named, else ``TRACKSTACK_<PLATFORM>_<KEY>``) and
        ``developer_token_env`` (when named)."""
        own = AUTH_KEYS.get(self.auth, ())
        envs: dict[str, str] = {}
        for f in fields(self):
            if not f.name.endswith("_env"):
                continue
            name = getattr(self, f.name)
            if f.metadata.get(AUTH_SETTING) and f.name not in own:
                continue
            if not name and f.name in DEFAULT_ENV_SUFFIX:
                name = f"{ENV_PREFIX.get(self.name, 'TRACKSTACK')}_{DEFAULT_ENV_SUFFIX[f.name]}"
            if name:
                envs[f.name] = name
        return envs

    def secret(self, key: str = "access_token_env") -> str | None:
        """The credential named by ``key``: handed in, else from the environment (None
        when unset)."""
        name = self.credential_envs().get(key)
        if not name:
            return None
        return self.secrets.get(name) or os.environ.get(name)

    def secret_names(self) -> list[str]:
        """The environment-variable names of this destination's credentials."""
        return list(self.credential_envs().values())

    def stitch_classes(self) -> tuple[str, ...]:
        """The stitching classes this destination takes."""
        if self.stitching is not None:
            return self.stitching
        return STITCH_CLASSES if self.name in AD_DESTINATIONS else ()

    def event_ids(self) -> dict[str, str]:
        """Canonical event -> the configured conversion action / rule ID (Google Ads and
        LinkedIn; empty elsewhere)."""
        return {}

    def account_settings(self) -> dict[str, object]:
        """The destination's own settings that differ from their defaults, credential
        variable names left out: what its payloads depend on besides the common keys."""
        typed = self.typed()
        out: dict[str, object] = {}
        for f in typed.setting_fields():
            value = getattr(typed, f.name)
            unset = f.default if isinstance(f.default, str) else {}
            if f.name.endswith("_env") or f.metadata.get(AUTH_SETTING):
                continue
            if value != unset:
                out[f.name] = value
        return out


NOT_SETTINGS = frozenset(f.name for f in fields(Destination) if not f.metadata.get(AUTH_SETTING))
"""Fields of common keys or runtime state, not a destination's own settings."""


def check_auth(dest: Destination) -> None:
    """ConfigError when a credential setting does not go with the destination's ``auth``
    mode, or a mode's required setting is missing."""
    prefix = f"destinations.{dest.name}."
    own = set(AUTH_KEYS.get(dest.auth, ()))
    for key in sorted(k for keys in AUTH_KEYS.values() for k in keys):
        if key in own or not getattr(dest, key):
            continue
        modes = [m for m, keys in AUTH_KEYS.items() if key in keys]
        raise ConfigError(
            f"{prefix}{key} is read only with auth = {' or '.join(map(repr, modes))}, but "
            f"{prefix}auth = {dest.auth!r}; remove {key} or change auth"
        )
    if dest.auth == JWT_BEARER and not dest.username:
        raise ConfigError(
            f"{prefix}username is required with auth = 'jwt_bearer': the Salesforce user the "
            f"JWT asserts (like {USERNAME.example!r})"
        )


def destination_types() -> dict[str, type[Destination]]:
    """Destination name -> its settings class (`trackstack_wh.config.platforms`, which
    builds on this module)."""
    from trackstack_wh.config.platforms import DESTINATION_TYPES

    return DESTINATION_TYPES
