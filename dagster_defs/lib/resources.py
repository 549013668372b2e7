"""The resources the assets are given: the warehouse, the workspace, the drop folders,
where delivery requests go, and each destination's credentials.

They only build ``trackstack_wh`` objects; no pipeline logic lives here.
"""

import contextlib
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import httpx

import trackstack_wh as tw
from trackstack_wh.destinations.config import (
    EMULATOR_TARGET,
    Destination,
    WorkspaceConfig,
    load_config,
)
from trackstack_lab.emulator.process import emulated, emulator_secrets
from trackstack_wh.ingest.readers import is_event_file

WAREHOUSE_POOL = "duckdb_warehouse"
"""Every step that opens the DuckDB file runs in this pool (limit 1 in dagster.yaml)."""


class WorkspaceResource(dg.ConfigurableResource):
    """The workspace config (trackstack.toml) and the clock age limits are judged by."""

    config_path: str | None = None
    """trackstack.toml to use (None: $TRACKSTACK_CONFIG, else ./trackstack.toml)."""
    clock: str | None = None
    """ISO time to judge event ages at (None: now). Replays of old data set it."""

    def load(self) -> WorkspaceConfig:
        return load_config(self.config_path)

    def as_of(self) -> dt.datetime:
        if not self.clock:
            return dt.datetime.now(dt.UTC)
        value = dt.datetime.fromisoformat(self.clock)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Connections live for one step and wait (with backoff)
    while another process holds the file, then fail naming it."""

    database: str
    busy_timeout_seconds: float = 300.0

    @contextlib.contextmanager
    def open(
        self, config: WorkspaceConfig | None = None, *, read_only: bool = False
    ) -> Iterator[tw.Warehouse]:
        wh = tw.connect(
            self.database,
            config=config,
            read_only=read_only,
            busy_timeout=self.busy_timeout_seconds,
        )
        try:
            yield wh
        finally:
            wh.close()


class FoldersResource(dg.ConfigurableResource):
    """Where files arrive and partition outputs go."""

    inbox: str = "data/inbox"
    """Event files dropped here are ingested (the inbox sensor watches it)."""
    landing: str = "data/landing"
    """The HTTP sink's landing directory (closed segments are ingested)."""
    export: str = "data/export"
    """Hive-partitioned Parquet of each day's tables."""
    settle_seconds: float = 2.0
    """A dropped file is picked up once unchanged for this long (still being copied)."""

    def landing_path(self) -> Path:
        return Path(self.landing)

    def inbox_files(self) -> list[Path]:
        root = Path(self.inbox)
        if not root.is_dir():
            return []
        return sorted(p for p in root.rglob("*") if p.is_file() and is_event_file(p))


CREDENTIAL_KEYS = ("access_token_env", "developer_token_env")
"""The destination settings that name credential variables."""


class PlatformCredentials(dg.ConfigurableResource):
    """Each destination's secrets, ``<destination>_<credential>``, each from the environment
    variable trackstack.toml names for it (``dg.EnvVar``: the UI and run config show the
    variable's name, never its value). Unset ones stay empty; that destination's push then
    reports them missing and the others go on."""

    meta_access_token: str | None = None
    google_ads_access_token: str | None = None
    google_ads_developer_token: str | None = None
    linkedin_access_token: str | None = None
    tiktok_access_token: str | None = None
    snapchat_access_token: str | None = None
    reddit_access_token: str | None = None
    hubspot_access_token: str | None = None
    salesforce_access_token: str | None = None

    @staticmethod
    def field_name(destination: str, key: str) -> str:
        return f"{destination}_{key.removesuffix('_env')}"

    def for_destination(self, destination: Destination) -> dict[str, str]:
        """The destination's secrets keyed by variable name (``with_secrets`` input)."""
        out = {}
        for key in CREDENTIAL_KEYS:
            name = destination.settings.get(key)
            value = getattr(self, self.field_name(destination.name, key), None)
            if name and value:
                out[name] = value
        return out


PLATFORMS_HELP = (
    "choose where delivery requests go: set TRACKSTACK_PLATFORMS (or the `platforms` "
    "resource's `target`) to 'live' (the platforms' endpoints in trackstack.toml), "
    "'emulator' (a local emulator started for the step) or an http(s) URL prefix (a "
    "proxy or test endpoint)"
)


class PlatformsResource(dg.ConfigurableResource):
    """Where delivery requests go; there is no default, so a deployment never sends to a
    test double by accident (nor a test run to the platforms).

    ``target``: ``emulator`` (a local platform emulator started for the step, unset
    credentials replaced by placeholders), ``live`` (the base URLs in trackstack.toml),
    or a URL prefix (a running emulator or a proxy) that ``/<destination>`` is added to.
    Deliveries are booked under that target: only ``live`` ones count as delivered.
    Subclasses may override ``transport()`` to hand the push an ``httpx`` transport.
    """

    target: str | None = None

    def transport(self) -> httpx.AsyncBaseTransport | None:
        return None

    def booked_as(self) -> str:
        """The delivery target this resource's pushes are logged under (``live`` when
        unset: nothing was sent, so reconciliation reports it)."""
        if self.target in (None, "live"):
            return "live"
        if self.target == "emulator":
            return EMULATOR_TARGET
        return self.target.rstrip("/")

    @contextlib.contextmanager
    def route(
        self, config: WorkspaceConfig, clock: dt.datetime | None
    ) -> Iterator[WorkspaceConfig]:
        if not self.target:
            raise dg.Failure(f"no delivery target: {PLATFORMS_HELP}")
        if self.target == "live":
            yield config
        elif self.target == "emulator":
            with emulated(config, clock) as pointed:
                yield pointed
        elif self.target.startswith(("http://", "https://")):
            yield config.pointed_at(self.target).with_secrets(emulator_secrets(config))
        else:
            raise dg.Failure(f"platforms target {self.target!r} is not valid: {PLATFORMS_HELP}")
