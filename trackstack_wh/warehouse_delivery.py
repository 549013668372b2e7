"""The delivery half of the notebook API (``Warehouse`` inherits it): push, retry,
credential checks, the delivery log, reconciliation and the platforms' read-back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import duckdb
import polars as pl

from trackstack_wh import db
from trackstack_wh.config import WorkspaceConfig

if TYPE_CHECKING:  # delivery pulls in httpx; imported when first used (faster start-up)
    import httpx

    from trackstack_wh.delivery import DestinationReport, PushReport
    from trackstack_wh.delivery.credentials import CredentialCheck
    from trackstack_wh.delivery.diagnostics import Reading
    from trackstack_wh.delivery.reconcile import Reconciliation


class DeliveryMethods:
    """Sending payload rows and reading what became of them."""

    conn: duckdb.DuckDBPyConnection
    config: WorkspaceConfig

    def push(
        self,
        destinations: str | Iterable[str] | None = None,
        *,
        dry_run: bool = False,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        event_names: Iterable[str] | None = None,
        retry_failed: bool = False,
        as_of: dt.datetime | None = None,
        delivery: Mapping[str, float] | None = None,
        progress: Callable[[DestinationReport], None] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> PushReport:
        """Send every pending payload row (of ``destinations``, default all enabled).

        Idempotent: a row delivered (or rejected) in this mode is never sent again.
        ``dry_run`` logs what would be sent and sends nothing; ``retry_failed`` also resends
        rows whose retries ran out; ``since`` / ``until`` and ``event_names`` narrow the
        rows; ``as_of`` is the clock for platform age limits; ``delivery`` overrides pacing
        and retry settings for this run; ``transport`` replaces the network.
        """
        return self._push(
            self.config, destinations=destinations, dry_run=dry_run, since=since,
            until=until, event_names=event_names, retry_failed=retry_failed, as_of=as_of,
            delivery=delivery, progress=progress, transport=transport,
        )  # fmt: skip

    def _push(
        self,
        config: WorkspaceConfig,
        destinations: str | Iterable[str] | None = None,
        **options: Any,
    ) -> PushReport:
        from trackstack_wh.delivery.push import push

        names = [destinations] if isinstance(destinations, str) else destinations
        return push(self.conn, config, destinations=names, **options)

    def push_to_emulator(self, *, as_of: dt.datetime | None = None, **options: Any) -> PushReport:
        """``push`` to the local platform emulator, started for this call and stopped
        after it (for demos, notebooks and tests; ``as_of`` also sets its clock). Missing
        credential variables get placeholders for the call; real ones are never sent."""
        from trackstack_lab.emulator.process import emulated

        with emulated(self.config, as_of) as pointed:
            return self._push(pointed, as_of=as_of, **options)

    def check_credentials(
        self,
        destinations: str | Iterable[str] | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> list[CredentialCheck]:
        """Each enabled destination's credentials (or those named) tried with the
        platform's cheapest authenticated call: ok, or which failure and its fix."""
        from trackstack_wh.delivery.credentials import check_credentials

        names = [destinations] if isinstance(destinations, str) else destinations
        return check_credentials(self.config, transport, destinations=names)

    def fetch_diagnostics(
        self,
        destinations: str | Iterable[str] | None = None,
        *,
        days: float = 7.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> list[Reading]:
        """Read back what the platforms made of what we sent (Meta's dataset quality,
        Google's request statuses or upload summary) into ``platform_diagnostics``; a
        platform's failure is recorded in ``diagnostics_runs``, never raised."""
        from trackstack_wh.delivery.diagnostics import fetch_diagnostics

        names = [destinations] if isinstance(destinations, str) else destinations
        return fetch_diagnostics(
            self.conn, self.config, destinations=names, days=days, transport=transport
        )

    def diagnostics(self, destination: str | None = None) -> pl.DataFrame:
        """The latest read-back value of each (destination, source, scope, metric)."""
        return db.query_frame(
            self.conn,
            "select * exclude (detail) from platform_diagnostics_latest "
            "where $d is null or destination = $d "
            "order by destination, source, scope, metric",
            {"d": destination},
        )

    def retry_failed(
        self, destinations: str | Iterable[str] | None = None, **options: Any
    ) -> PushReport:
        """Send again the rows whose last outcome is ``failed`` (and anything pending)."""
        return self.push(destinations, retry_failed=True, **options)

    def deliveries(
        self,
        destination: str | None = None,
        *,
        outcome: str | None = None,
        limit: int | None = None,
        with_warnings: bool = False,
    ) -> pl.DataFrame:
        """Latest delivery state per (destination, request kind, event, mode), with the
        event's quality score and warnings when it was last sent; ``with_warnings`` keeps
        the rows that had warnings (``outcome="delivered"``: delivered with warnings)."""
        return db.query_frame(
            self.conn,
            "select * from delivery_status where ($d is null or destination = $d) "
            "and ($o is null or outcome = $o) and (not $w or len(quality_warnings) > 0) "
            "order by last_sent_at desc, event_id limit $n",
            {"d": destination, "o": outcome, "w": with_warnings, "n": limit or 2**62},
        )

    def delivery_log(
        self, destination: str | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """Every attempt, newest first."""
        return db.query_frame(
            self.conn,
            "select * from delivery_log where $d is null or destination = $d "
            "order by sent_at desc, event_id limit $n",
            {"d": destination, "n": limit or 2**62},
        )

    def reconcile(
        self,
        since: dt.datetime | None = None,
        *,
        until: dt.datetime | None = None,
        mode: str = "live",
        target: str = "live",
    ) -> Reconciliation:
        """Routed events vs payload rows vs delivery outcomes, per destination, day, event;
        deliveries to ``target`` only (``live``: the platforms; ``emulator``; a URL)."""
        from trackstack_wh.delivery.reconcile import reconcile

        return reconcile(self.conn, since=since, until=until, mode=mode, target=target)
