"""The notebook API: ``wh = trackstack_wh.connect()`` and everything hanging off it."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from trackstack_wh import db
from trackstack_wh.config import WorkspaceConfig, load_config
from trackstack_wh.enrich import (
    QualityRun,
    QualitySettings,
    phone_region_from_env,
    recorded_settings,
    refresh_quality,
    staleness,
)
from trackstack_wh.errors import StaleDataError, UsageError
from trackstack_wh.ingest.files import PathLike, load_files, load_segments
from trackstack_wh.ingest.loading import discard_interrupted_loads
from trackstack_wh.ingest.quarantined import quarantined
from trackstack_wh.ingest.report import IngestReport
from trackstack_wh.payloads import PAYLOAD_TABLES, BuildResult, build_payloads
from trackstack_wh.payloads.inspect import existing_tables, preview_requests, summary_sql
from trackstack_wh.payloads.requests import HttpRequest
from trackstack_wh.quality import quality_summary_sql
from trackstack_wh.reports import (
    DeliveryReport,
    FunnelReport,
    QualityReport,
    delivery_report,
    funnel_report,
    quality_report,
)
from trackstack_wh.reports.html import write_html
from trackstack_wh.sink.segments import (
    DEFAULT_LANDING,
)
from trackstack_wh.timewindow import TimeWindow
from trackstack_wh.warehouse_delivery import DeliveryMethods
from trackstack_wh.warehouse_doctor import DoctorMethods
from trackstack_wh.warehouse_funnels import FunnelMethods
from trackstack_wh.warehouse_quarantine import QuarantineMethods
from trackstack_wh.warehouse_trace import TraceMethods

if TYPE_CHECKING:  # delivery pulls in httpx; imported when first used (faster start-up)
    import httpx

    from trackstack_wh.operate import RunSummary

log = logging.getLogger(__name__)
_FROM_ENV = object()


class Warehouse(DeliveryMethods, QuarantineMethods, TraceMethods, DoctorMethods, FunnelMethods):
    """A DuckDB warehouse file with the TrackStack tables; results come back as polars."""

    def __init__(
        self,
        path: PathLike | None = None,
        *,
        read_only: bool = False,
        config: PathLike | WorkspaceConfig | None = None,
        busy_timeout: float = db.DEFAULT_BUSY_TIMEOUT,
    ) -> None:
        self.path = db.resolve_path(path)
        self.read_only = read_only
        self.config = config if isinstance(config, WorkspaceConfig) else load_config(config)
        self.conn: duckdb.DuckDBPyConnection = db.connect(
            self.path, read_only=read_only, busy_timeout=busy_timeout
        )
        if not read_only:
            discarded = discard_interrupted_loads(self.conn)
            if discarded:
                log.warning(
                    "undid %d interrupted load(s); they load again, whole, when ingested next: %s",
                    len(discarded),
                    ", ".join(discarded),
                )

    def ingest(
        self, paths: PathLike | Iterable[PathLike], *, received_at: dt.datetime | None = None
    ) -> IngestReport:
        """Load files (.ndjson/.jsonl/.json[.gz], .csv, .parquet); a directory means its files.

        A file that cannot be read (status ``unreadable``) or fails to load (``failed``,
        undone) is reported and the others still load. Records longer than
        ``[ingest] max_record_bytes`` are quarantined as ``record_too_large``.
        """
        many = [paths] if isinstance(paths, (str, os.PathLike)) else paths
        return IngestReport(
            load_files(self.conn, many, received_at=received_at, limits=self.config.ingest)
        )

    def ingest_landing(self, landing: PathLike | None = None) -> IngestReport:
        """Load the HTTP sink's closed landing segments (default ``data/landing``), each
        exactly once: a segment is recorded in the same transaction as its rows, then moved
        to ``loaded/``. Open segments (still being written) are left alone."""
        root = Path(landing) if landing is not None else DEFAULT_LANDING
        return IngestReport(load_segments(self.conn, root, self.config.ingest))

    def project_usage(self, project: str | None = None) -> pl.DataFrame:
        """Per project and UTC day of receipt (view ``project_daily_usage``): ``events``
        stored, whether they came over HTTP (``http_events``) or from a file
        (``file_events``), by ``projectId``, else ``projectKey``; and what the sink
        accepted: ``requests``, ``sink_events`` (before validation) and ``body_bytes``."""
        return self.sql(
            "select * from project_daily_usage where $project is null or project_id = $project "
            "order by day, project_id",
            project=project,
        )

    def sink_usage(self, project: str | None = None) -> pl.DataFrame:
        """``project_usage`` under its former name (the sink's own counts are its
        ``requests``, ``sink_events`` and ``body_bytes``; view ``sink_daily_usage``)."""
        return self.project_usage(project)

    def sql(self, query: str, **params: Any) -> pl.DataFrame:
        """Run a query with ``$name`` parameters bound from keyword arguments."""
        return db.query_frame(self.conn, query, params or None)

    def events(self, limit: int | None = None) -> pl.DataFrame:
        """The events table, newest first."""
        return self.sql("select * from events order by ts desc limit $n", n=limit or 2**62)

    def quarantine(
        self, limit: int | None = None, *, reason: str | None = None, file: str | None = None
    ) -> pl.DataFrame:
        """Quarantined records with their reasons, in file order; ``reason`` (e.g.
        ``missing_required:currency``, or its code) and ``file`` (a path, its file name
        or a batch ID) narrow them (see ``quarantine_summary``, ``replay_quarantine``)."""
        return quarantined(self.conn, reason=reason, file=file, limit=limit)

    def batches(self) -> pl.DataFrame:
        """One row per ingested file with its accounting."""
        return self.sql("select * from ingest_batches order by ingested_at")

    def refresh_quality(
        self,
        *,
        phone_region: str | None | object = _FROM_ENV,
        dedup_windows: Mapping[str, dt.timedelta | None] | None = None,
        force: bool = False,
    ) -> QualityRun:
        """Rebuild identity hashes, the person graph and stitched keys
        (``[stitching]``), per-destination dedup and quality scores if stale.

        ``phone_region``: country assumed for phones without a country code (default
        $TRACKSTACK_PHONE_REGION, else US; None reads their digits as international).
        ``dedup_windows``: per-destination window overrides, e.g. ``{"meta": timedelta(hours=72)}``
        (None: no time limit).
        """
        region = (
            phone_region_from_env(self.config.phone_region)
            if phone_region is _FROM_ENV
            else phone_region
        )
        if region is not None and not isinstance(region, str):
            raise UsageError(f"phone_region must be an ISO country code or None, not {region!r}")
        return refresh_quality(
            self.conn,
            phone_region=region,
            windows=dedup_windows,
            stitching=self.config.stitching,
            force=force,
        )

    def quality(self, limit: int | None = None) -> pl.DataFrame:
        """Per-event quality: score, components, match keys per destination, warnings
        (as of the last ``refresh_quality()``; raises ``StaleDataError`` if events changed
        since)."""
        self._require_fresh_quality()
        return self.sql(
            "select q.* exclude (key_pattern), p.match_keys from event_quality q "
            "join match_key_patterns p using (key_pattern) order by q.score, q.event_id limit $n",
            n=limit or 2**62,
        )

    def quality_summary(self, by: str = "stage") -> pl.DataFrame:
        """Quality by ``event_name``, ``stage`` or ``destination`` (needs a current
        ``refresh_quality()``)."""
        query = quality_summary_sql(by)
        self._require_fresh_quality()
        return self.sql(query)

    def destination_dedup(self) -> pl.DataFrame:
        """Copies suppressed per destination, with the earlier copy they repeat (needs a
        current ``refresh_quality()``)."""
        self._require_fresh_quality()
        return self.sql("select * from destination_dedup order by destination, event_id")

    def build_payloads(
        self,
        *,
        as_of: dt.datetime | None = None,
        rebuild: bool = False,
        destinations: Iterable[str] | None = None,
        window: TimeWindow | None = None,
    ) -> list[BuildResult]:
        """Route events and build the payload table of every enabled destination.

        Incremental: only events without rows yet are built (and rows built under other
        settings). Eligibility (event age, future timestamps) is judged at ``as_of``,
        default now; ``rebuild`` rebuilds every row. ``destinations`` and ``window`` (a
        ``TimeWindow`` of event times, e.g. ``TimeWindow.days("2026-10-01")``) narrow it.
        Quality is refreshed first when events changed, with the settings of the last
        ``refresh_quality()`` recorded in the warehouse (else the config's).
        """
        settings = self._refresh_with_recorded_settings()
        return build_payloads(
            self.conn,
            self.config,
            as_of=as_of,
            phone_region=settings.phone_region,
            rebuild=rebuild,
            destinations=destinations,
            window=window,
        )

    def replay_clock(self) -> dt.datetime:
        """An hour after the newest event (now if there is none): the ``as_of`` that
        judges recorded data as if it had just arrived, as the demo does."""
        newest_ms = self.sql("select epoch_ms(max(ts)) as ms from events").item()
        if newest_ms is None:
            return dt.datetime.now(dt.UTC)
        return dt.datetime.fromtimestamp(newest_ms / 1000, dt.UTC) + dt.timedelta(hours=1)

    def payloads(
        self, destination: str, *, status: str | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """A destination's payload rows (optionally one status), oldest first."""
        table = self._payload_table(destination)
        return self.sql(
            f"select * from {table} where $status is null or status = $status "
            "order by event_time, event_id, request_kind limit $n",
            status=status,
            n=limit or 2**62,
        )

    def payload_summary(self) -> pl.DataFrame:
        """Rows per destination, request kind, status and skip reason, and the events
        routed to no payload (status ``not_routed``, the routing reason as skip reason)."""
        routes = db.has_table(self.conn, "route_rules")
        return self.sql(summary_sql(existing_tables(self.conn), routes=routes))

    def preview(
        self, destination: str, *, since: dt.datetime | None = None, limit: int | None = 100
    ) -> list[HttpRequest]:
        """The HTTP requests sending would make (secrets redacted), without sending."""
        self._payload_table(destination)
        return preview_requests(
            self.conn, self.config.destinations[destination], since=since, limit=limit
        )

    def run(
        self,
        *,
        inbox: PathLike | None = None,
        landing: PathLike | None = None,
        dry_run: bool = False,
        rebuild: bool = False,
        emulator: bool = False,
        as_of: dt.datetime | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> RunSummary:
        """The whole chain once, each step only on what is new: ingest the ``inbox``
        folder's files and the ``landing`` folder's closed segments (None: skipped),
        refresh quality, build payloads, push every enabled destination's pending rows.
        See ``trackstack_wh.operate.run_once``; ``trackstack-wh run`` prints its summary."""
        from trackstack_wh.operate import run_once

        return run_once(
            self, inbox=inbox, landing=landing, dry_run=dry_run, rebuild=rebuild,
            emulator=emulator, as_of=as_of, transport=transport,
        )  # fmt: skip

    def funnel(
        self, period: str = "week", by: str | None = None, *, window: TimeWindow | None = None
    ) -> FunnelReport:
        """Funnel-stage report per ``period`` (day, week, month, quarter, year), optionally
        split ``by`` channel, referrer or plan: ``.df``, ``.tables``, ``.chart()``."""
        return funnel_report(
            self.conn, period=period, by=by, window=window, value_unit=self.config.value_unit
        )

    def quality_report(self, *, window: TimeWindow | None = None) -> QualityReport:
        """Quality score distribution, missing identity signals and match keys by event
        (needs a current ``refresh_quality()``)."""
        self._require_fresh_quality()
        return quality_report(self.conn, window=window)

    def delivery_report(
        self,
        *,
        window: TimeWindow | None = None,
        mode: str = "live",
        target: str = "live",
        landing: PathLike | None = None,
        as_of: dt.datetime | None = None,
        with_warnings: bool = False,
    ) -> DeliveryReport:
        """Per destination and day: delivered, rejected, failed, skipped, with reasons, for
        deliveries to ``target``; its ``by_target`` table shows every target, labelled, and
        ``freshness`` how long conversions took to leave, judged against the config's
        ``[freshness]`` limits (with the sink's ``landing`` directory: its held segments).
        ``with_warnings``: first the rows delivered with warnings (``with_warnings``: the
        event's quality score and warnings when sent) and ``warnings_delivered``."""
        return delivery_report(
            self.conn, window=window, mode=mode, target=target,
            thresholds=self.config.freshness, landing=landing, as_of=as_of,
            with_warnings=with_warnings,
        )  # fmt: skip

    def write_html_report(
        self,
        path: PathLike,
        *,
        period: str = "week",
        window: TimeWindow | None = None,
        mode: str = "live",
        target: str = "live",
        landing: PathLike | None = None,
    ) -> Path:
        """One self-contained HTML file (charts as inline SVG, rendered offline) with the
        funnel, conversion funnel (with what the ad platforms received per step), quality
        and delivery reports (freshness included); returns its path."""
        reports = [
            self.funnel(period, window=window),
            self.conversion_funnel(
                since=window.start if window else None, until=window.end if window else None
            ).with_delivery(mode=mode, target=target),
            self.quality_report(window=window),
            self.delivery_report(window=window, mode=mode, target=target, landing=landing),
        ]
        return write_html(
            path, reports, title="TrackStack warehouse report", subtitle=f"Warehouse {self.path}."
        )

    def _payload_table(self, destination: str) -> str:
        if destination not in PAYLOAD_TABLES:
            raise UsageError(
                f"unknown destination {destination!r}; choose from {sorted(PAYLOAD_TABLES)}"
            )
        table = existing_tables(self.conn).get(destination)
        if table is None:
            raise StaleDataError(
                f"no payloads for {destination!r} yet: enable it in the config and run "
                "build_payloads()"
            )
        return table

    def _require_fresh_quality(self) -> None:
        problem = staleness(self.conn)
        if problem is not None:
            where = "" if not self.read_only else " on a writable connection"
            raise StaleDataError(
                f"{problem}: run wh.refresh_quality(){where} (CLI: trackstack-wh quality) first"
            )

    def _refresh_with_recorded_settings(self) -> QualitySettings:
        settings = recorded_settings(self.conn) or QualitySettings(
            phone_region_from_env(self.config.phone_region), {}, self.config.stitching
        )
        refresh_quality(
            self.conn,
            phone_region=settings.phone_region,
            windows=settings.windows,
            stitching=settings.stitching,
        )
        return settings

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Warehouse({str(self.path)!r})"


def connect(
    path: PathLike | None = None,
    *,
    read_only: bool = False,
    config: PathLike | WorkspaceConfig | None = None,
    busy_timeout: float = db.DEFAULT_BUSY_TIMEOUT,
) -> Warehouse:
    """Open (creating it) ``path``, else $TRACKSTACK_DB, else data/warehouse.duckdb.

    ``config``: the workspace config (a path or a loaded config), else $TRACKSTACK_CONFIG,
    else ./trackstack.toml when present. DuckDB lets one process write a file and no
    other process read it meanwhile: while a pipeline run holds it, this waits up to
    ``busy_timeout`` seconds, then raises ``WarehouseBusyError``. Readers beside a
    scheduled pipeline should use ``read_only=True`` and close promptly
    (``with tw.connect(read_only=True) as wh: ...``), so runs are not held up either.
    """
    return Warehouse(path, read_only=read_only, config=config, busy_timeout=busy_timeout)
