"""``push``: send every enabled destination's pending payload rows, side by side."""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

import duckdb
import httpx

from trackstack_wh.config import WorkspaceConfig
from trackstack_wh.delivery.engine import DestinationPush
from trackstack_wh.delivery.outbox import scrub_stored
from trackstack_wh.delivery.plan import PushOptions, run_masker
from trackstack_wh.delivery.report import DestinationReport, PushReport
from trackstack_wh.delivery.settings import DeliverySettings
from trackstack_wh.errors import ConfigError

T = TypeVar("T")
log = logging.getLogger(__name__)


def push(
    conn: duckdb.DuckDBPyConnection,
    config: WorkspaceConfig,
    *,
    destinations: Iterable[str] | None = None,
    dry_run: bool = False,
    retry_failed: bool = False,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    event_names: Iterable[str] | None = None,
    as_of: dt.datetime | None = None,
    delivery: Mapping[str, float] | None = None,
    progress: Callable[[DestinationReport], None] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> PushReport:
    """Send pending rows of the chosen (default: every enabled) destination.

    ``retry_failed`` also resends rows whose last outcome was ``failed``; ``since`` /
    ``until`` limit to events in ``[since, until)``; ``event_names`` to those canonical
    events; ``as_of`` is the clock for the age limits (default now); ``delivery``
    overrides ``[destinations.<name>.delivery]`` settings for this run; ``transport``
    replaces the network (an ``httpx`` transport).
    """
    chosen = _choose(config, destinations)
    options = PushOptions(
        run_id=uuid.uuid4().hex,
        as_of=as_of or dt.datetime.now(dt.UTC),
        dry_run=dry_run,
        retry_failed=retry_failed,
        since=since,
        until=until,
        event_names=tuple(event_names) if event_names is not None else None,
        transport=transport,
        progress=progress,
        mask=run_masker(chosen),
    )
    scrub_stored(conn, options.mask)
    pushes = [
        DestinationPush(conn, dest, options, DeliverySettings.for_destination(dest, delivery))
        for dest in chosen
    ]

    async def run_all() -> PushReport:
        reports = await asyncio.gather(*(p.run() for p in pushes))  # each catches its own
        for report in reports:
            _log_destination(report)
        return PushReport(options.run_id, list(reports))

    return run_coroutine(run_all())


def _choose(config: WorkspaceConfig, names: Iterable[str] | None) -> list[Any]:
    if names is None:
        return config.enabled()
    chosen = []
    for name in names:
        dest = config.destinations.get(name)
        if dest is None:
            known = sorted(config.destinations)
            raise ConfigError(f"unknown destination {name!r}; choose from {known}")
        if not dest.enabled:
            raise ConfigError(f"destination {name!r} is not enabled in the workspace config")
        chosen.append(dest)
    return chosen


def _log_destination(report: DestinationReport) -> None:
    log.info(
        "%s (%s, target %s): %d delivered, %d rejected, %d failed in %d requests, %.1f s",
        report.destination, report.mode, report.target, report.delivered, report.rejected,
        report.failed, report.requests, report.seconds,
    )  # fmt: skip
    if report.halted:
        log.warning("%s halted: %s", report.destination, report.halted)


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run to completion, also from inside a running loop (Jupyter) via a worker thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
