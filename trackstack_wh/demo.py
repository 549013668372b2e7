"""``trackstack-wh demo``: the whole pipeline on the committed samples, end to end.

Ingest and validate, quality and dedup, payloads for every enabled destination, push to
the local platform emulator (started and stopped here), reconcile, reports. Event ages
are judged at the samples' own clock (newest event + 1 h), so the demo behaves the same
on any date. Running it again loads nothing twice and sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from tqdm import tqdm

from trackstack_wh.config import EMULATOR_TARGET
from trackstack_wh.delivery import DestinationReport, PushReport
from trackstack_wh.ingest.files import expand_paths
from trackstack_wh.ingest.report import FileReport, IngestReport
from trackstack_wh.warehouse import Warehouse

T = TypeVar("T")


@dataclass
class DemoResult:
    """What the demo did, for the summary (and ``--json``)."""

    warehouse: str
    ingest: IngestReport
    accounting: dict[str, int]
    outcomes: pl.DataFrame
    headline: dict[str, Any]
    report_path: Path | None
    push: PushReport | None = None
    reconciled: bool = True
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.ingest.ok and self.reconciled and (self.push is None or self.push.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "warehouse": self.warehouse,
            "ingest": self.ingest.to_dict(),
            "accounting": self.accounting,
            "destinations": self.outcomes.to_dicts(),
            "funnel": self.headline,
            "report": str(self.report_path) if self.report_path else None,
            "reconciled": self.reconciled,
            "seconds": self.seconds,
        }


def _bar(items: Iterable[T], desc: str, total: int | None = None) -> tqdm[T]:
    """A progress bar on stderr when it is a terminal (silent in logs and pipes)."""
    width = min(shutil.get_terminal_size((100, 24)).columns or 100, 120)
    return tqdm(items, desc=f"{desc:<9}", total=total, file=sys.stderr, disable=None,
                leave=True, ncols=max(width, 60))  # fmt: skip


@contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    started = time.perf_counter()
    yield
    seconds[step] = round(time.perf_counter() - started, 2)


def run_demo(
    wh: Warehouse, samples: Path, *, push: bool = True, report_path: Path | None = None
) -> DemoResult:
    """Run every step; ``report_path`` None skips the HTML report."""
    seconds: dict[str, float] = {}
    with _timed(seconds, "ingest"):
        files: list[FileReport] = []
        bar = _bar(expand_paths([samples]), "ingest")
        for path in bar:
            bar.set_postfix_str(path.name)
            files.extend(wh.ingest(path).files)
        ingest = IngestReport(files)
    with _timed(seconds, "quality"):
        wh.refresh_quality()
    as_of = wh.replay_clock()
    enabled = [d.name for d in wh.config.enabled()]
    with _timed(seconds, "payloads"):
        for name in _bar(enabled, "payloads"):
            wh.build_payloads(as_of=as_of, destinations=[name])
    push_report, reconciled = None, True
    if push and enabled:
        with _timed(seconds, "push"):
            push_report = _push(wh, as_of)
        with _timed(seconds, "reconcile"):
            reconciled = wh.reconcile(target=EMULATOR_TARGET).ok
    with _timed(seconds, "reports"):
        funnel = wh.funnel("week")
        delivery = wh.delivery_report(target=EMULATOR_TARGET)
        written = wh.write_html_report(report_path, target=EMULATOR_TARGET) if report_path else None
    accounting = wh.sql(
        "select count(*)::bigint as files, coalesce(sum(rows_in), 0)::bigint as rows_in, "
        "coalesce(sum(rows_valid), 0)::bigint as rows_valid, "
        "coalesce(sum(rows_quarantined), 0)::bigint as rows_quarantined, "
        "coalesce(sum(rows_duplicate), 0)::bigint as rows_duplicate from ingest_batches"
    ).to_dicts()[0]
    return DemoResult(
        warehouse=str(wh.path),
        ingest=ingest,
        accounting=accounting,
        outcomes=delivery.table("totals"),
        headline=funnel.headline(),
        report_path=written,
        push=push_report,
        reconciled=reconciled,
        seconds=seconds,
    )


def _push(wh: Warehouse, as_of: dt.datetime) -> PushReport:
    bar: tqdm[object] = _bar([], "push", total=0)
    done: dict[str, tuple[int, int]] = {}

    def progress(report: DestinationReport) -> None:
        finished = report.settled
        done[report.destination] = (finished, report.pending)
        bar.total = sum(p for _, p in done.values())
        bar.n = sum(f for f, _ in done.values())
        bar.set_postfix_str(report.destination)
        bar.refresh()

    try:
        return wh.push_to_emulator(as_of=as_of, progress=progress)
    finally:
        bar.close()


def print_summary(result: DemoResult, out: Callable[[str], None] = print) -> None:
    """The short human summary: accounting, destinations, funnel, report path."""
    a = result.accounting
    new = result.ingest.totals()
    loaded = sum(f.status == "loaded" for f in result.ingest.files)
    out(f"\nwarehouse  {result.warehouse}")
    out(
        f"ingest     this run: {loaded} new file(s), {new['rows_in']:,} records; "
        f"warehouse: {a['files']} file(s), {a['rows_in']:,} records = {a['rows_valid']:,} "
        f"events + {a['rows_quarantined']:,} quarantined + {a['rows_duplicate']:,} duplicates"
    )
    for f in result.ingest.files:
        if f.failed:
            out(f"error      {f.path}: {f.status}: {f.error}")
    out("\ndestination   delivered  rejected  failed  skipped  duplicate  not sent")
    for r in result.outcomes.iter_rows(named=True):
        waiting = r["in_flight"] + r["never_attempted"]
        out(
            f"{r['destination']:<12} {r['delivered']:>10,} {r['rejected']:>9,} "
            f"{r['failed']:>7,} {r['skipped']:>8,} {r['duplicate']:>10,} {waiting:>9,}"
        )
    if result.push is not None:
        sent = sum(d.delivered + d.rejected + d.failed for d in result.push.destinations)
        out(f"this run sent {sent:,} rows (rows already delivered are never sent again)")
    people = result.headline["people"]
    out("\nfunnel     " + " -> ".join(f"{stage} {n:,}" for stage, n in people.items()))
    first = next(iter(people.values()), 0)
    paying = people.get("Revenue", 0)
    if first:
        out(f"           {paying / first:.1%} of people reaching Awareness reached Revenue")
    revenue = ", ".join(f"{c} {v:,.2f}" for c, v in result.headline["net_revenue"].items())
    h = result.headline
    out(
        f"revenue    net (after refunds and chargebacks): {revenue or 'none'}; "
        f"{h['refunds']} refunds, {h['chargebacks']} chargebacks, {h['churned']} churned"
    )
    status = "everything accounted for" if result.reconciled else "PROBLEMS: see `reconcile`"
    out(f"reconcile  {status}")
    if result.report_path is not None:
        out(f"\nHTML report: {result.report_path.resolve()}")
    steps = ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items())
    out(f"took {sum(result.seconds.values()):.1f}s ({steps})")


def print_json(result: DemoResult) -> None:
    print(json.dumps(result.to_dict(), indent=2, default=str))
