"""The quarantine workbench of the notebook API (``Warehouse`` inherits it): counts by
reason and file, and replaying records after a contract, config or data fix."""

from __future__ import annotations

import duckdb
import polars as pl

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.errors import UsageError
from trackstack_wh.ingest import quarantined
from trackstack_wh.ingest.replay import RecordFix, ReplayResult
from trackstack_wh.ingest.replay import replay_quarantine as replay


class QuarantineMethods:
    """Reading and replaying the quarantine (``wh.quarantine()`` lists the records)."""

    conn: duckdb.DuckDBPyConnection
    config: WorkspaceConfig
    read_only: bool

    def quarantine_summary(
        self, *, reason: str | None = None, file: str | None = None
    ) -> pl.DataFrame:
        """Quarantined records per first reason and file, most first, with the first line
        and the reason's fix; ``reason`` and ``file`` narrow them as in ``quarantine()``."""
        return quarantined.quarantine_summary(self.conn, reason=reason, file=file)

    def replay_quarantine(
        self,
        reason: str | None = None,
        fix: RecordFix | None = None,
        file: str | None = None,
    ) -> ReplayResult:
        """Validate quarantined records again and move those that now pass into
        ``events`` (or ``duplicates``), through the same code as file ingest.

        ``reason`` (``missing_required:currency`` or a code such as ``missing_required``)
        and ``file`` (a path, its file name or a batch ID) select the records; with
        ``workspace.default_currency`` set, records quarantined for a missing currency
        get it. ``fix(record: dict) -> dict | None`` may change each record first
        (None leaves it). Records that still fail stay with their current reasons. Each
        moved record keeps its batch and line, the batch's counts follow it, and the
        replay is recorded in ``quarantine_replays`` and ``quarantine_moves``; replaying
        again moves nothing more. See ``trackstack_wh.ingest.replay``.
        """
        if self.read_only:
            raise UsageError("replay_quarantine() needs a writable warehouse (read_only=False)")
        return replay(
            self.conn,
            reason=reason,
            file=file,
            fix=fix,
            default_currency=self.config.default_currency,
            ip=self.config.ingest.client_ip,
        )
