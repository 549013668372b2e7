"""One destination's books for a push: every outcome into the delivery log and the
running report, and why the destination stopped, if it did."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from typing import NamedTuple

from trackstack_wh.delivery.logwriter import LogWriter
from trackstack_wh.delivery.outbox import Batch, Pending
from trackstack_wh.delivery.report import DestinationReport
from trackstack_wh.delivery.settings import DeliverySettings, next_run_retry
from trackstack_wh.delivery.taxonomy import SUPERSEDED, TOO_OLD
from trackstack_wh.delivery.verdicts import Failure, Verdict

CARRIED = Failure(
    SUPERSEDED, "superseded", "a later row of the same record carried its state (request_id)"
)
TOO_OLD_UNSENT = Failure(
    TOO_OLD, "not_sent", "older than the platform's age limit at send time; not sent"
)


class Answered(NamedTuple):
    """The request an outcome comes from (all None for rows decided without one)."""

    request_id: str | None = None
    status: int | None = None
    latency_ms: float | None = None
    trace_id: str | None = None


NOT_ANSWERED = Answered()


class Ledger:
    """Logs outcomes (``writer``) and counts them (``report``); remembers the first halt."""

    def __init__(
        self, writer: LogWriter, report: DestinationReport, settings: DeliverySettings
    ) -> None:
        self.writer, self.report, self.settings = writer, report, settings
        self.halted: Failure | None = None
        self.reasons: Counter[str] = Counter()

    def halt(self, failure: Failure) -> None:
        """Stop the destination (the first reason is kept); its other rows stay pending."""
        if self.halted is None:
            self.halted = dataclasses.replace(failure, message=self.writer.mask(failure.message))

    def log(
        self,
        rows: Batch,
        outcome: str,
        failure: Failure | None,
        answered: Answered = NOT_ANSWERED,
        retry_at: dt.datetime | None = None,
    ) -> None:
        """An attempt for each row, not (yet) final: ``retry_scheduled`` and the like."""
        error = (
            (failure.error_class, failure.code, failure.message) if failure else (None, None, None)
        )
        self.writer.rows(
            rows,
            outcome,
            request_id=answered.request_id,
            http_status=answered.status,
            latency_ms=answered.latency_ms,
            error=error,
            trace_id=answered.trace_id,
            retry_at=retry_at,
        )

    def final(
        self, rows: Batch, outcome: str, failure: Failure | None, answered: Answered = NOT_ANSWERED
    ) -> None:
        """A final outcome for each row, counted in the report (with its reason)."""
        if outcome == "failed":
            self._failed(rows, failure, answered)
        else:
            self.log(rows, outcome, failure, answered)
        setattr(self.report, outcome, getattr(self.report, outcome) + len(rows))
        if failure is not None:
            self.reasons[f"{outcome}:{failure.error_class}"] += len(rows)

    def settle_unsent(self, pending: Pending, *, dry_run: bool) -> None:
        """Rows decided without a request: too old by the time of sending (one old row
        would make Meta or Reddit refuse the whole request); a dry run also shows the
        rows a CRM record's latest row would carry."""
        if dry_run:
            for rows, failure in ((pending.too_old, TOO_OLD_UNSENT), (pending.superseded, CARRIED)):
                if len(rows):
                    self.dry_run(rows, failure)
        elif len(pending.too_old):
            self.final(pending.too_old, "rejected", TOO_OLD_UNSENT)

    def supersede(self, rows: Batch, request_id: str | None) -> None:
        """CRM rows whose record state went out, delivered, in ``request_id``."""
        self.final(rows, "superseded", CARRIED, Answered(request_id))

    def dry_run(self, rows: Batch, failure: Failure | None = None) -> None:
        """Rows a dry run would send (or decide unsent), logged as attempt 0."""
        error = (failure.error_class, failure.code, failure.message) if failure else (None,) * 3
        self.writer.rows(rows, "dry_run", error=error, counts_as_attempt=False)
        self.report.dry_run_rows += len(rows)

    def request(
        self,
        kind: str,
        request_id: str,
        sent_at: dt.datetime,
        rows: Batch,
        body: bytes,
        answered: Answered,
        verdict: Verdict,
    ) -> None:
        """One HTTP request and what the platform said of it as a whole."""
        failure = verdict.request_failure
        if verdict.accepted is not None:
            self.report.platform_accepted += verdict.accepted
        self.writer.request(
            request_id=request_id,
            request_kind=kind,
            sent_at=sent_at,
            rows=len(rows),
            bytes=len(body),
            latency_ms=answered.latency_ms,
            http_status=answered.status,
            error_class=failure.error_class if failure else None,
            error_code=failure.code if failure else None,
            platform_accepted=verdict.accepted,
            trace_id=verdict.trace_id,
        )

    def finish(self, seconds: float) -> DestinationReport:
        self.report.finish(self.reasons, self.halted, seconds)
        return self.report

    def _failed(self, rows: Batch, failure: Failure | None, answered: Answered) -> None:
        """``failed`` rows, each with when a later run may send it again (none once it
        has failed ``max_runs`` runs: then only ``retry_failed`` resends it)."""
        now = dt.datetime.now(dt.UTC)
        for runs in sorted(set(rows.failed_runs)):
            group = rows.take(i for i, r in enumerate(rows.failed_runs) if r == runs)
            wait = next_run_retry(self.settings, runs + 1)
            retry_at = None if wait is None else now + dt.timedelta(seconds=wait)
            self.log(group, "failed", failure, answered, retry_at=retry_at)
