"""The whole chain once: ingest what is new (inbox files, the sink's closed landing
segments), refresh quality and dedup, build payloads (incrementally), push every enabled
destination's pending rows. ``trackstack-wh run`` (cron) and Dagster's intraday asset both
call ``run_once``; ``RunSummary`` says what each step did."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trackstack_wh.enrich import QualityRun
from trackstack_wh.ingest.files import PathLike, expand_paths
from trackstack_wh.ingest.report import FileReport, IngestReport
from trackstack_wh.operate_text import summary_lines
from trackstack_wh.payloads import BuildResult
from trackstack_wh.sink.segments import DEFAULT_LANDING

if TYPE_CHECKING:
    import httpx

    from trackstack_wh.delivery.report import DestinationReport, PushReport
    from trackstack_wh.warehouse import Warehouse

log = logging.getLogger(__name__)

INBOX_ENV = "TRACKSTACK_INBOX"
LANDING_ENV = "TRACKSTACK_LANDING"
DEFAULT_INBOX = Path("data") / "inbox"
STEPS = ("ingest", "quality", "payloads", "push")


def inbox_path(value: PathLike | None = None) -> Path:
    """The inbox folder: ``value``, else $TRACKSTACK_INBOX (read now), else data/inbox."""
    return Path(value or os.environ.get(INBOX_ENV) or DEFAULT_INBOX)


def landing_path(value: PathLike | None = None) -> Path:
    """The sink's landing folder: ``value``, else $TRACKSTACK_LANDING (read now), else
    data/landing."""
    return Path(value or os.environ.get(LANDING_ENV) or DEFAULT_LANDING)


@dataclass(frozen=True)
class DestinationRun:
    """One destination's share of a run: payload rows built, then what the push did.

    ``sent``: rows this push settled (delivered + rejected + failed + superseded);
    ``would_send``: rows a dry run would have sent; ``not_sent``: pending rows left
    untouched (a halted destination)."""

    destination: str
    target: str
    built: int
    rebuilt: int
    pending: int = 0
    sent: int = 0
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    superseded: int = 0
    would_send: int = 0
    not_sent: int = 0
    requests: int = 0
    halted: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls, name: str, built: BuildResult | None, pushed: DestinationReport | None
    ) -> DestinationRun:
        inserted, rebuilt = (built.inserted, built.rebuilt) if built is not None else (0, 0)
        if pushed is None:  # built, but the push did not cover it
            return cls(name, "", inserted, rebuilt)
        return cls(
            destination=name,
            target=pushed.target,
            built=inserted,
            rebuilt=rebuilt,
            pending=pushed.pending,
            sent=pushed.settled - pushed.dry_run_rows,
            delivered=pushed.delivered,
            rejected=pushed.rejected,
            failed=pushed.failed,
            superseded=pushed.superseded,
            would_send=pushed.dry_run_rows,
            not_sent=pushed.not_sent,
            requests=pushed.requests,
            halted=pushed.halted,
            reasons=dict(pushed.reasons),
            errors=list(pushed.errors),
        )


@dataclass
class RunSummary:
    """What ``run_once`` did, step by step; ``ok`` when no file was unreadable and no
    destination halted, failed rows or reported an error (``problems`` says which)."""

    as_of: dt.datetime
    dry_run: bool
    rebuild: bool
    inbox: str | None
    """The inbox folder read (None: not asked to)."""
    landing: str | None
    """The landing folder read (None: not asked to)."""
    inbox_report: IngestReport
    landing_report: IngestReport
    quality: QualityRun
    payloads: list[BuildResult]
    push: PushReport
    seconds: dict[str, float]
    """Per step (``ingest``, ``quality``, ``payloads``, ``push``) and ``total``."""
    notes: list[str] = field(default_factory=list)
    """Things worth knowing that are not problems (a folder that does not exist)."""

    @property
    def files(self) -> list[FileReport]:
        return self.inbox_report.files + self.landing_report.files

    @property
    def loaded(self) -> list[FileReport]:
        return [f for f in self.files if f.status == "loaded"]

    @property
    def destinations(self) -> list[DestinationRun]:
        """Per destination, in the order built (then any only pushed)."""
        built = {b.destination: b for b in self.payloads}
        pushed = {d.destination: d for d in self.push.destinations}
        names = list(built) + [n for n in pushed if n not in built]
        return [DestinationRun.of(n, built.get(n), pushed.get(n)) for n in names]

    @property
    def target(self) -> str:
        """Where the push went (``live``, ``emulator``, a URL; ``none`` when no
        destination is enabled)."""
        targets = sorted({d.target for d in self.push.destinations})
        return ", ".join(targets) or "none"

    def problems(self) -> list[str]:
        """Why the run is not ok: unreadable files, halted destinations, failed rows,
        errors a push reported."""
        out = [f"{f.path}: {f.status}: {f.error}" for f in self.files if f.failed]
        for d in self.push.destinations:
            if d.halted:
                out.append(f"{d.destination}: halted: {d.halted}")
            if d.failed:
                out.append(f"{d.destination}: {d.failed:,} rows failed (retried by a later run)")
            out.extend(f"{d.destination}: {error}" for error in d.errors)
        return out

    @property
    def ok(self) -> bool:
        return not self.problems()

    def lines(self) -> list[str]:
        """A one-screen text summary (``trackstack-wh run`` prints it)."""
        return summary_lines(self)

    def to_dict(self) -> dict[str, Any]:
        """Everything as plain JSON-ready values (``trackstack-wh run --json``)."""
        files = self.files
        return {
            "ok": self.ok,
            "problems": self.problems(),
            "as_of": self.as_of.isoformat(),
            "dry_run": self.dry_run,
            "rebuild": self.rebuild,
            "target": self.target,
            "seconds": self.seconds,
            "ingest": {
                "inbox": self.inbox,
                "landing": self.landing,
                "files_loaded": len(self.loaded),
                "files_already_ingested": sum(f.status == "already_ingested" for f in files),
                "files_unreadable": sum(f.failed for f in files),
                "totals": IngestReport(self.loaded).totals(),
                "files": [asdict(f) for f in files if f.status != "already_ingested"],
                "notes": self.notes,
            },
            "quality": asdict(self.quality),
            "destinations": [asdict(d) for d in self.destinations],
            "push_run_id": self.push.run_id,
        }

    def __repr__(self) -> str:
        return "\n".join(self.lines())


def run_once(
    wh: Warehouse,
    *,
    inbox: PathLike | None = None,
    landing: PathLike | None = None,
    dry_run: bool = False,
    rebuild: bool = False,
    emulator: bool = False,
    as_of: dt.datetime | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> RunSummary:
    """Ingest, refresh quality, build payloads, push: each step only does what is new.

    ``inbox``: a folder whose event files are ingested (each file once, known by its
    content); ``landing``: the sink's landing folder, whose closed segments are ingested
    and moved to ``loaded/``; None skips either (a folder that does not exist is noted and
    skipped). ``rebuild`` rebuilds quality and every payload row instead of only what is
    new. ``dry_run`` ingests and builds as usual, then sends nothing and logs what would
    be sent. ``emulator`` pushes to a local platform emulator started for the call.
    ``as_of`` is the clock for the platforms' age limits: default now, or with
    ``emulator`` the warehouse's replay clock (newest event + 1 h, as ``push --emulator``).
    ``transport`` replaces the network (an ``httpx`` transport)."""
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    notes: list[str] = []
    inbox_dir = None if inbox is None else Path(inbox)
    landing_dir = None if landing is None else Path(landing)

    step = time.perf_counter()
    inbox_report = _ingest_inbox(wh, inbox_dir, landing_dir, notes)
    landing_report = _ingest_landing(wh, landing_dir, notes)
    seconds["ingest"] = _since(step)

    step = time.perf_counter()
    quality = wh.refresh_quality(force=rebuild)
    seconds["quality"] = _since(step)

    clock = as_of or (wh.replay_clock() if emulator else dt.datetime.now(dt.UTC))
    step = time.perf_counter()
    payloads = wh.build_payloads(as_of=clock, rebuild=rebuild)
    seconds["payloads"] = _since(step)

    step = time.perf_counter()
    if emulator and wh.config.enabled():
        push = wh.push_to_emulator(as_of=clock, dry_run=dry_run, transport=transport)
    else:
        push = wh.push(dry_run=dry_run, as_of=clock, transport=transport)
    seconds["push"] = _since(step)
    seconds["total"] = _since(started)

    summary = RunSummary(
        as_of=clock,
        dry_run=dry_run,
        rebuild=rebuild,
        inbox=None if inbox_dir is None else str(inbox_dir),
        landing=None if landing_dir is None else str(landing_dir),
        inbox_report=inbox_report,
        landing_report=landing_report,
        quality=quality,
        payloads=payloads,
        push=push,
        seconds=seconds,
        notes=notes,
    )
    log.info("run done in %.2f s: %s", seconds["total"], "; ".join(summary.problems()) or "ok")
    return summary


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 3)


def _ingest_inbox(
    wh: Warehouse, inbox: Path | None, landing: Path | None, notes: list[str]
) -> IngestReport:
    """The inbox's event files (a landing folder inside it is left to ``_ingest_landing``)."""
    if inbox is None:
        return IngestReport([])
    if not inbox.exists():
        notes.append(f"inbox {inbox}: no such folder, nothing ingested from it")
        return IngestReport([])
    files = expand_paths([inbox])
    if landing is not None:
        root = landing.resolve()
        files = [f for f in files if not f.resolve().is_relative_to(root)]
    return wh.ingest(files)


def _ingest_landing(wh: Warehouse, landing: Path | None, notes: list[str]) -> IngestReport:
    if landing is None:
        return IngestReport([])
    if not landing.is_dir():
        notes.append(f"landing {landing}: no such folder, no segments ingested")
        return IngestReport([])
    return wh.ingest_landing(landing)
