"""The resources the assets are given: the warehouse, the workspace, the drop folders,
where delivery requests go, and each destination's credentials.

They only build ``trackstack_wh`` objects; no pipeline logic lives here. Nothing here
reads the environment or a file when the code location loads: a field left unset (None)
is resolved when a step (or a sensor tick) calls the resource's method, from the
variable named in its description, else a default. Dagster's ``dg.EnvVar`` cannot express
"this variable, else a default": an unset one fails the launch of every run that uses the
resource (even for an optional field), so the defaults are applied here instead. A
deployment that wants a value pinned in run config may still pass ``dg.EnvVar(...)`` or a
literal for any field.
"""

import contextlib
import datetime as dt
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import httpx
from pydantic import Field

import trackstack_wh as tw
from trackstack_lab.emulator.process import emulated, emulator_secrets
from trackstack_wh.config import EMULATOR_TARGET, LIVE, WorkspaceConfig, load_config
from trackstack_wh.errors import ConfigError
from trackstack_wh.ingest.readers import is_event_file
from trackstack_wh.operate import INBOX_ENV, LANDING_ENV, inbox_path, landing_path

WAREHOUSE_POOL = "duckdb_warehouse"
"""Every step that opens the DuckDB file runs in this pool (limit 1 in dagster.yaml)."""

CLOCK_ENV = "TRACKSTACK_CLOCK"
EXPORT_ENV = "TRACKSTACK_EXPORT"
PLATFORMS_ENV = "TRACKSTACK_PLATFORMS"
INTRADAY_MINUTES_ENV = "TRACKSTACK_INTRADAY_MINUTES"
INTRADAY_LIVE_ENV = "TRACKSTACK_INTRADAY_LIVE"
INTRADAY_MINUTES = 5.0
"""Intraday delivery runs this often by default."""


def _setting(value: str | None, variable: str) -> str | None:
    """A resource field's value, else ``$variable`` (read now, at run time)."""
    return value or os.environ.get(variable) or None


def _path(value: str | None, variable: str, default: str) -> Path:
    """A folder: the field's value, else ``$variable`` (read now), else the default."""
    return Path(_setting(value, variable) or default)


class WorkspaceResource(dg.ConfigurableResource):
    """The workspace config (trackstack.toml) and the clock age limits are judged by."""

    config_path: str | None = Field(
        default=None,
        description="trackstack.toml to use (None: $TRACKSTACK_CONFIG when the step runs, "
        "else ./trackstack.toml).",
    )
    clock: str | None = Field(
        default=None,
        description="ISO time to judge event ages at (None: $TRACKSTACK_CLOCK when the step "
        "runs, else now). Replays of old data set it.",
    )

    def load(self) -> WorkspaceConfig:
        """The validated config, read now. A missing or invalid file fails the step with
        the ConfigError's message (``dg.Failure``); the code location is not affected."""
        try:
            return load_config(self.config_path)
        except ConfigError as exc:
            raise dg.Failure(description=str(exc)) from exc

    def as_of(self) -> dt.datetime:
        clock = _setting(self.clock, CLOCK_ENV)
        if not clock:
            return dt.datetime.now(dt.UTC)
        value = dt.datetime.fromisoformat(clock)
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file. Connections live for one step and wait (with backoff)
    while another process holds the file, then fail naming it."""

    database: str | None = Field(
        default=None,
        description="The DuckDB file (None: $TRACKSTACK_DB when the step runs, else "
        "data/warehouse.duckdb).",
    )
    busy_timeout_seconds: float = 300.0

    @contextlib.contextmanager
    def open(self, config: WorkspaceConfig, *, read_only: bool = False) -> Iterator[tw.Warehouse]:
        """The warehouse with ``config`` (from ``WorkspaceResource.load()``: the library
        would otherwise read the config itself, and fail outside a ``dg.Failure``)."""
        wh = tw.connect(
            self.database,  # None: the library reads $TRACKSTACK_DB now
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

    inbox: str | None = Field(
        default=None,
        description=f"Event files dropped here are ingested; the inbox sensor watches it "
        f"(None: ${INBOX_ENV} at run time, else data/inbox).",
    )
    landing: str | None = Field(
        default=None,
        description=f"The HTTP sink's landing directory; closed segments are ingested "
        f"(None: ${LANDING_ENV} at run time, else data/landing).",
    )
    export: str | None = Field(
        default=None,
        description="Hive-partitioned Parquet of each day's tables and report.html "
        "(None: $TRACKSTACK_EXPORT at run time, else data/export).",
    )
    settle_seconds: float = Field(
        default=2.0,
        description="A dropped file is picked up once unchanged for this long (still being "
        "copied).",
    )

    def inbox_path(self) -> Path:
        return inbox_path(self.inbox)  # the library's rule, as ``trackstack-wh run``'s

    def landing_path(self) -> Path:
        return landing_path(self.landing)

    def export_path(self) -> Path:
        return _path(self.export, EXPORT_ENV, "data/export")

    def inbox_files(self) -> list[Path]:
        root = self.inbox_path()
        if not root.is_dir():
            return []
        return sorted(p for p in root.rglob("*") if p.is_file() and is_event_file(p))


@dataclass(frozen=True)
class ResolvedCredentials:
    """Credential values by variable name (never printed), and the names left unset."""

    values: Mapping[str, str] = field(repr=False)
    missing: tuple[str, ...] = ()

    @property
    def names(self) -> list[str]:
        """The variables that have a value (names only: safe to log)."""
        return sorted(self.values)


class CredentialsResource(dg.ConfigurableResource):
    """The destinations' credentials, resolved when a step runs: every environment variable
    the workspace config names (each destination's ``secret_names()``: ``access_token_env``,
    ``developer_token_env``, any other ``*_env`` setting) is read from the run's
    environment, none left out. No value is a field, so values never reach the run config,
    the UI or the event log; steps log variable names only. To read another secret store,
    subclass it and override ``lookup``."""

    warn_missing: bool = Field(
        default=True,
        description="Log a warning naming the credential variables a live delivery step's "
        "destination names but the run's environment does not set (the push then reports "
        "them missing for that destination).",
    )

    def lookup(self, name: str) -> str | None:
        """One variable's value (None when unset or empty)."""
        return os.environ.get(name) or None

    def resolve(
        self, config: WorkspaceConfig, destinations: Iterable[str] | None = None
    ) -> ResolvedCredentials:
        """Every credential variable the chosen destinations (default: all of the config's)
        name, with its value; ``WorkspaceConfig.with_secrets(resolved.values)`` hands them
        to the library."""
        chosen = config.destinations if destinations is None else list(destinations)
        names = sorted({n for d in chosen for n in config.destinations[d].secret_names()})
        values = {name: value for name in names if (value := self.lookup(name))}
        return ResolvedCredentials(values, tuple(n for n in names if n not in values))


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

    target: str | None = Field(
        default=None,
        description="emulator | live | an http(s) URL prefix (None: $TRACKSTACK_PLATFORMS "
        "when the step runs; unset there too, delivery steps fail and say how to choose).",
    )

    def resolved_target(self) -> str | None:
        return _setting(self.target, PLATFORMS_ENV)

    def transport(self) -> httpx.AsyncBaseTransport | None:
        return None

    def target_problem(self) -> str | None:
        """Why no delivery could start (no target chosen, or not a valid one), else None."""
        target = self.resolved_target()
        if not target:
            return f"no delivery target: {PLATFORMS_HELP}"
        if target in (LIVE, "emulator") or target.startswith(("http://", "https://")):
            return None
        return f"platforms target {target!r} is not valid: {PLATFORMS_HELP}"

    def booked_as(self) -> str:
        """The delivery target this resource's pushes are logged under (``live`` when
        unset: nothing was sent, so reconciliation reports it)."""
        target = self.resolved_target()
        if target in (None, LIVE):
            return LIVE
        if target == "emulator":
            return EMULATOR_TARGET
        return target.rstrip("/")

    @contextlib.contextmanager
    def route(
        self, config: WorkspaceConfig, clock: dt.datetime | None
    ) -> Iterator[WorkspaceConfig]:
        target = self.resolved_target()
        if not target:
            raise dg.Failure(f"no delivery target: {PLATFORMS_HELP}")
        if target == LIVE:
            yield config
        elif target == "emulator":
            with emulated(config, clock) as pointed:
                yield pointed
        elif target.startswith(("http://", "https://")):
            handed = {n for d in config.destinations.values() for n in d.secrets}
            placeholders = {n: v for n, v in emulator_secrets(config).items() if n not in handed}
            yield config.pointed_at(target).with_secrets(placeholders)
        else:
            raise dg.Failure(f"platforms target {target!r} is not valid: {PLATFORMS_HELP}")


class IntradayResource(dg.ConfigurableResource):
    """How often ``intraday_sensor`` starts ``intraday_job``, and whether it may do so on
    its own when deliveries go to the platforms. Read when the sensor ticks, so a change
    of the variable (or of the field in the UI's resource config) takes effect at the next
    tick, without reloading the code location."""

    interval_minutes: float | None = Field(
        default=None,
        description=f"Minutes between intraday runs (None: ${INTRADAY_MINUTES_ENV} at tick "
        f"time, else {INTRADAY_MINUTES:g}). The sensor ticks every 30 s, the finest step.",
    )
    unattended_live: bool | None = Field(
        default=None,
        description="Let the sensor start runs that push to the live platforms (or a URL "
        f"target) without anyone watching (None: ${INTRADAY_LIVE_ENV}=1 at tick time, else "
        "no: only emulator runs start by themselves).",
    )

    def interval(self) -> dt.timedelta:
        """The interval, read now; a value that is not a positive number fails the tick
        with a message naming the variable."""
        value: object = self.interval_minutes
        if value is None:
            value = os.environ.get(INTRADAY_MINUTES_ENV) or INTRADAY_MINUTES
        try:
            minutes = float(value)  # type: ignore[arg-type]
        except ValueError:
            minutes = -1.0
        if not minutes > 0:
            raise ValueError(
                f"intraday interval {value!r} is not a positive number of minutes: set "
                f"{INTRADAY_MINUTES_ENV} (or the intraday resource's interval_minutes), "
                f"e.g. {INTRADAY_MINUTES:g}"
            )
        return dt.timedelta(minutes=minutes)

    def live_allowed(self) -> bool:
        if self.unattended_live is not None:
            return self.unattended_live
        return os.environ.get(INTRADAY_LIVE_ENV, "").strip().lower() in ("1", "true", "yes")
