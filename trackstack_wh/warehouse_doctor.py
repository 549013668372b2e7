"""The setup doctor of the notebook API (``Warehouse`` inherits it): ``wh.doctor()``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import duckdb

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.doctor import DEFAULT_DAYS, DoctorReport, run_doctor
from trackstack_wh.ingest.files import PathLike
from trackstack_wh.operate import landing_path

if TYPE_CHECKING:  # --online only: the credential check pulls in httpx
    import httpx


class DoctorMethods:
    """The TrackStack setup checklist, judged from the config, the environment and data."""

    conn: duckdb.DuckDBPyConnection
    config: WorkspaceConfig

    def doctor(
        self,
        *,
        days: float = DEFAULT_DAYS,
        online: bool = False,
        landing: PathLike | None = None,
        as_of: dt.datetime | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> DoctorReport:
        """Every item of the setup checklist as a check (``ok``, ``warn`` or ``fail``, a
        detail and a one-line fix): sink keys, destination credentials (``online``: tried
        with each platform), API versions, expected events, the domain allowlist, SDK and
        identify records, events per funnel stage, match-key shares, deliveries and
        freshness, quarantine and the sink's ``landing`` directory (default
        $TRACKSTACK_LANDING, else data/landing). Data checks read the ``days`` up to the
        newest event in the warehouse; ``as_of`` (default now) judges sunsets, freshness
        and landing ages. Never writes. ``report.ok`` is False when a check failed; see
        ``trackstack_wh.doctor``."""
        return run_doctor(
            self.conn, self.config, days=days, landing=landing_path(landing), online=online,
            as_of=as_of, transport=transport,
        )  # fmt: skip
