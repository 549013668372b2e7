"""The push engine: payload rows out over HTTP, every answer into the delivery log.

Per destination: pending rows are streamed from the payload table in platform-sized
batches, sent with bounded concurrency under a token bucket, and each answer is parsed
into per-row outcomes. Transient failures are retried with backoff (Retry-After
honoured, and a 429 pauses the whole destination); a request refused for some rows is
resent without them (split in halves when the platform does not say which); auth and
config failures stop that destination only; a row whose retries ran out is ``failed``
with a ``retry_at`` for a later run. CRM upserts send one merged state per record key and
log the rows it covers as ``superseded``. Destinations run side by side. Every text
logged or reported passes the run's credential masker.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid

import duckdb

from trackstack_wh.config import Destination
from trackstack_wh.delivery.credentials import Credentials, verify
from trackstack_wh.delivery.cursor import advance, pending_params, written_through
from trackstack_wh.delivery.fixes import fix_for
from trackstack_wh.delivery.http import Sender, TransportFailure
from trackstack_wh.delivery.ledger import Answered, Ledger
from trackstack_wh.delivery.logwriter import LogWriter
from trackstack_wh.delivery.outbox import (
    STATE_PARAMS,
    Batch,
    candidate_state_sql,
    carriers_delivered,
    carriers_not_found,
    pending_sql,
    state_table,
    still_open,
    stream_pending,
)
from trackstack_wh.delivery.parsers import NOT_FOUND
from trackstack_wh.delivery.plan import PushOptions, Target, kinds, targets
from trackstack_wh.delivery.quality_snapshot import add_to_snapshot
from trackstack_wh.delivery.quota import OrgQuota, limits_url, usage_from_headers
from trackstack_wh.delivery.ratelimit import TokenBucket, backoff_delay
from trackstack_wh.delivery.report import DestinationReport
from trackstack_wh.delivery.responses import parse_response
from trackstack_wh.delivery.settings import DeliverySettings, sending_mode
from trackstack_wh.delivery.taxonomy import (
    AUTH,
    BATCH_REJECTED,
    CONFIG,
    HALTS_DESTINATION,
    PERMANENT,
    RATE_LIMITED,
    RETRIED,
    RETRYABLE,
)
from trackstack_wh.delivery.tokens import CredentialError
from trackstack_wh.delivery.verdicts import MAX_MESSAGE, Failure, Verdict
from trackstack_wh.payloads.inspect import existing_tables
from trackstack_wh.payloads.registry import payload_spec
from trackstack_wh.payloads.requests import request_body
from trackstack_wh.payloads.versions import sunset_problems


class DestinationPush:
    """One destination's push within a run."""

    def __init__(
        self,
        conn: duckdb.DuckDBPyConnection,
        dest: Destination,
        options: PushOptions,
        settings: DeliverySettings,
    ) -> None:
        self.conn, self.dest, self.options, self.settings = conn, dest, options, settings
        self.mode, self.target = sending_mode(dest), dest.target
        self.mask = options.mask
        self.report = DestinationReport(dest.name, self.mode, options.dry_run, target=self.target)
        self.quota = OrgQuota(self.report, settings.max_api_share)
        self.started = dt.datetime.now(dt.UTC)
        spec = payload_spec(dest)
        max_age = dest.max_event_age_days or spec.max_age_days
        self.min_event_ms = (
            None if max_age is None else options.as_of.timestamp() * 1000 - max_age * 86_400_000
        )

    @property
    def halted(self) -> Failure | None:
        return self.ledger.halted

    async def run(self) -> DestinationReport:
        started = time.perf_counter()
        self.started = dt.datetime.now(dt.UTC)
        writer = LogWriter(
            self.conn,
            run_id=self.options.run_id,
            destination=self.dest.name,
            mode=self.mode,
            target=self.target,
            mask=self.mask,
        )
        self.ledger = Ledger(writer, self.report, self.settings)
        self.report.pending = self._count_pending()
        refusal = self._refusal()
        try:
            if refusal is not None:
                self.ledger.halt(refusal)
            else:
                await self._push_all()
        except Exception as exc:  # this destination stops; the others go on
            message = self.mask(f"{type(exc).__name__}: {exc}")[:MAX_MESSAGE]
            self.ledger.halt(Failure(PERMANENT, "client_error", message))
            self.report.errors.append(message)
        finally:
            writer.close()
            for kind in kinds(self.dest):
                self.conn.execute(f"drop table if exists {state_table(self.dest.name, kind)}")
        report = self.ledger.finish(time.perf_counter() - started)
        if self.options.progress:
            self.options.progress(report)
        return report

    async def _push_all(self) -> None:
        self.bucket = TokenBucket(self.settings.requests_per_second)
        credentials = Credentials(self.dest, self.mask, self.options.transport)
        self.sender = Sender(
            timeout=self.settings.timeout_seconds,
            concurrency=self.settings.concurrency,
            transport=self.options.transport,
            auth=credentials.auth,
        )
        try:
            if self.options.dry_run or not self.report.pending or await self._credentials_ok():
                for target in targets(self.dest):
                    await self._push_kind(target)
        finally:
            await self.sender.aclose()
            await credentials.aclose()

    def _refusal(self) -> Failure | None:
        """Why nothing may be sent at all: a sunset API version."""
        sunset = sunset_problems(self.dest, self.options.as_of.date())
        if sunset:
            return Failure(CONFIG, "api_version_sunset", "; ".join(sunset))
        return None

    async def _credentials_ok(self) -> bool:
        """The credential check before the first row (``credentials.verify``; skipped
        when nothing is pending): a failed one halts the destination, every row left
        pending. Salesforce's check reads the org's API usage (``/limits``)."""
        s = self.settings
        check = await verify(self.dest, self.sender, self.mask, retry_base=s.retry_base_seconds,
                             retry_max=s.retry_max_seconds)  # fmt: skip
        if not check.ok:
            self.ledger.halt(check.failure())
            return False
        if self.dest.name == "salesforce" and check.answer is not None:
            answer = check.answer
            self._halt(self.quota.note_limits(answer.status, answer.headers, answer.content))
        return not self.halted

    def _halt(self, failure: Failure | None) -> None:
        if failure is not None:
            self.ledger.halt(failure)

    def _params(self, kind: str) -> dict[str, object]:
        where = (self.dest.name, kind, self.mode, self.target)
        return pending_params(self.conn, where, self.options, self.min_event_ms)

    def _count_pending(self) -> int:
        """Snapshot each kind's logged state (`state_table`) and count its pending rows."""
        table = existing_tables(self.conn).get(self.dest.name)
        if table is None:
            return 0
        pending = 0
        for kind in kinds(self.dest):
            params = self._params(kind)
            state = state_table(self.dest.name, kind)
            state_params = {k: v for k, v in params.items() if k in STATE_PARAMS}
            self.conn.execute(
                f"create or replace table {state} as {candidate_state_sql(table)}", state_params
            )
            add_to_snapshot(self.conn, self.dest.name, table, state_params)
            pending += self.conn.execute(
                f"select count(*) from ({pending_sql(table, upsert=False, state=state)})", params
            ).fetchall()[0][0]
        return pending

    async def _push_kind(self, target: Target) -> None:
        table = existing_tables(self.conn).get(self.dest.name)
        if table is None:
            return
        size = min(
            self.settings.batch_size or target.endpoint.batch_size, target.endpoint.batch_size
        )
        slots = asyncio.Semaphore(self.settings.concurrency)
        running: set[asyncio.Task[None]] = set()
        waiting: list[Batch] = []
        carriers: list[str] = []
        params = self._params(target.kind)
        through = written_through(self.conn, table)
        state = state_table(self.dest.name, target.kind)
        for pending in stream_pending(
            self.conn,
            table,
            params,
            kind=target.kind,
            upsert=target.endpoint.upsert,
            chunk=size,
            state=state,
        ):
            if self.halted:
                break
            self.ledger.settle_unsent(pending, dry_run=self.options.dry_run)
            if len(pending.superseded):
                waiting.append(pending.superseded)
                carriers.extend(pending.carriers)
            rows = pending.send
            if not len(rows):
                continue
            if self.options.dry_run:
                self.ledger.dry_run(rows)
                continue
            if self.dest.name == "salesforce" and not self.quota.read:
                self.quota.read = True
                await self._read_org_usage(target)
                if self.halted:
                    break
            await slots.acquire()
            task = asyncio.create_task(self._guarded(target, rows))
            running.add(task)
            task.add_done_callback(running.discard)
            task.add_done_callback(lambda _: slots.release())
        await _drain(running)
        if waiting and not self.options.dry_run:
            self._supersede(target.kind, Batch.concat(target.kind, waiting), carriers)
        if self._whole_run():
            self.ledger.writer.flush()
            advance(self.conn, table, params, through, state, self.started)

    def _whole_run(self) -> bool:
        """A run that looks at every pending row: it moves the push cursor."""
        o = self.options
        return not o.dry_run and o.since is None and o.until is None and o.event_names is None

    def _supersede(self, kind: str, rows: Batch, carriers: list[str]) -> None:
        """Rows whose record's state went out with a delivered carrier are ``superseded``;
        rows whose carrier found no such record (a churn update, ``record_not_found``)
        are rejected with it, the record is not there for them either; the others stay
        pending (the next run sends their record again)."""
        self.ledger.writer.flush()
        unique = sorted(set(carriers))
        delivered = carriers_delivered(
            self.conn, self.dest.name, self.mode, self.target, kind, unique
        )
        missing = carriers_not_found(
            self.conn, self.dest.name, self.mode, self.target, kind, unique, NOT_FOUND
        )
        by_request: dict[str | None, list[int]] = {}
        by_message: dict[str, list[int]] = {}
        for i, carrier in enumerate(carriers):
            if carrier in delivered:
                by_request.setdefault(delivered[carrier], []).append(i)
            elif carrier in missing:
                by_message.setdefault(missing[carrier], []).append(i)
        for request_id, indices in by_request.items():
            self.ledger.supersede(rows.take(indices), request_id)
        for message, indices in by_message.items():
            text = f"the record's latest row found no such record: {message}"[:MAX_MESSAGE]
            self.ledger.final(rows.take(indices), "rejected", Failure(PERMANENT, NOT_FOUND, text))

    async def _read_org_usage(self, target: Target) -> None:
        """The org's API usage before the first request (``/limits``); halts when the
        configured share is already used. An org that does not answer is read from the
        usage header of the first answer instead."""
        await self.bucket.acquire()
        try:
            answer = await self.sender.send("GET", limits_url(target.url), target.headers, b"")
        except (TransportFailure, CredentialError):
            return
        self.report.requests += 1
        self._halt(self.quota.note_limits(answer.status, answer.headers, answer.content))

    async def _guarded(self, target: Target, rows: Batch) -> None:
        try:
            await self._send(target, rows)
        except Exception as exc:  # a bug must not lose rows: end the open ones as failed
            message = self.mask(f"{type(exc).__name__}: {exc}")[:MAX_MESSAGE]
            self.report.errors.append(message)
            self.ledger.writer.flush()
            open_rows = still_open(self.conn, self.dest.name, self.mode, self.target, rows)
            if len(open_rows):
                self.ledger.final(open_rows, "failed", Failure(PERMANENT, "client_error", message))

    async def _send(self, target: Target, rows: Batch) -> None:
        tries = 0
        while len(rows) and not self.halted:
            await self.bucket.acquire()
            if self.halted:
                return
            tries += 1
            request_id = uuid.uuid4().hex
            body = request_body(target.endpoint, self.dest, rows.payloads)
            sent_at = dt.datetime.now(dt.UTC)
            self.report.requests += 1
            if self.options.progress:
                self.options.progress(self.report)
            try:
                answer = await self.sender.send(target.endpoint.method, target.url, target.headers,
                                                body, credential=target.endpoint.auth)  # fmt: skip
            except CredentialError as exc:  # renewal refused: the rows were not taken
                fix = fix_for(self.dest, exc.status)
                message = f"token renewal {exc.status}: {exc.message}; fix: {fix}"
                self.ledger.halt(Failure(AUTH, f"credentials_{exc.status}", message))
                return
            except TransportFailure as exc:
                failure = Failure(RETRYABLE, exc.code, exc.message)
                answered = Answered(request_id, None, exc.latency_ms)
                self.ledger.request(target.kind, request_id, sent_at, rows, body, answered,
                                    Verdict(request_failure=failure))  # fmt: skip
                rows = await self._request_failed(rows, failure, tries, answered)
                continue
            if self.dest.name == "salesforce":
                self._halt(self.quota.note(usage_from_headers(answer.headers)))
            verdict = parse_response(
                self.dest.name,
                target.kind,
                answer.status,
                answer.headers,
                self.mask.content(answer.content),
                rows.payloads,
            )
            answered = Answered(request_id, answer.status, answer.latency_ms, verdict.trace_id)
            self.ledger.request(target.kind, request_id, sent_at, rows, body, answered, verdict)
            if verdict.batch_invalid:
                rows = await self._isolate(target, rows, verdict, answered)
                tries = 0
                continue
            if verdict.request_failure:
                failed = answered._replace(trace_id=None)
                rows = await self._request_failed(rows, verdict.request_failure, tries, failed)
                continue
            rows = await self._per_row(rows, verdict, tries, answered)

    async def _per_row(self, rows: Batch, verdict: Verdict, tries: int, context: Answered) -> Batch:
        """Log a request's per-row outcomes; returns the rows to try again (after waiting)."""
        failures = {i: f for i, f in verdict.row_failures.items() if i < len(rows)}
        delivered = rows.without(failures)
        if len(delivered):
            self.ledger.final(delivered, "delivered", None, context)
        again: list[Batch] = []
        for index, failure in sorted(failures.items()):
            row = rows.take([index])
            if failure.error_class in RETRIED and tries < self.settings.max_attempts:
                self.ledger.log(row, "retry_scheduled", failure, context)
                again.append(row)
            elif failure.error_class in RETRIED or failure.error_class in HALTS_DESTINATION:
                # Not the row's fault: failed (resent by retry_failed), never rejected.
                self.ledger.final(row, "failed", failure, context)
                if failure.error_class in HALTS_DESTINATION:
                    self.ledger.halt(failure)
            else:
                self.ledger.final(row, "rejected", failure, context)
        if again:
            self.report.retries += 1
            self.ledger.writer.flush()
            await asyncio.sleep(self._delay(tries, None))
        return Batch.concat(rows.kind, again)

    async def _request_failed(
        self,
        rows: Batch,
        failure: Failure,
        tries: int,
        context: Answered,
    ) -> Batch:
        """A request that delivered nothing: wait and return the rows, or end them."""
        if failure.error_class in RETRIED and tries < self.settings.max_attempts:
            delay = self._delay(tries, failure.retry_after)
            if failure.error_class == RATE_LIMITED or failure.retry_after is not None:
                self.bucket.pause(delay)
            self.ledger.log(rows, "retry_scheduled", failure, context)
            self.report.retries += 1
            self.ledger.writer.flush()
            await asyncio.sleep(delay)
            return rows
        if failure.error_class in HALTS_DESTINATION:
            self.ledger.halt(failure)
        self.ledger.final(rows, "failed", failure, context)
        return rows.take([])

    async def _isolate(
        self, target: Target, rows: Batch, verdict: Verdict, context: Answered
    ) -> Batch:
        """A request refused because of some of its rows: reject those and return the rest
        to send again; when the platform named none, send the first half here and return
        the second (halves in turn, so concurrency stays bounded)."""
        named = {i: f for i, f in verdict.row_failures.items() if i < len(rows)}
        for index, failure in named.items():
            self.ledger.final(rows.take([index]), "rejected", failure, context)
        rest = rows.without(named)
        if not len(rest):
            return rest
        if len(rest) == 1 and not named:
            failure = verdict.request_failure or Failure(PERMANENT, None, "rejected")
            self.ledger.final(rest, "rejected", failure, context)
            return rest.take([])
        note = Failure(BATCH_REJECTED, None, "request refused because of other rows; resent")
        self.ledger.log(rest, "retry_scheduled", note, context)
        if named:
            return rest
        self.report.splits += 1
        first, second = rest.halves()
        await self._send(target, first)
        return second

    def _delay(self, tries: int, retry_after: float | None) -> float:
        return backoff_delay(
            tries,
            base=self.settings.retry_base_seconds,
            cap=self.settings.retry_max_seconds,
            retry_after=retry_after,
        )


async def _drain(running: set[asyncio.Task[None]]) -> None:
    if running:
        await asyncio.gather(*list(running))
