"""``RunSummary`` as one screen of text: a line per step with its seconds, the files
loaded, and a table per destination (built, pending, sent, delivered, rejected, failed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from trackstack_wh.ingest.report import IngestReport

if TYPE_CHECKING:
    from trackstack_wh.operate import DestinationRun, RunSummary

FILES_SHOWN = 8
"""Loaded or unreadable files listed by name; the rest are counted."""
REASONS_SHOWN = 3
SENT_COLUMNS = ("built", "rebuilt", "pending", "sent", "delivered", "rejected", "failed",
                "superseded", "requests")  # fmt: skip
DRY_RUN_COLUMNS = ("built", "rebuilt", "pending", "would_send")


def summary_lines(summary: RunSummary) -> list[str]:
    """The text ``trackstack-wh run`` prints."""
    state = "ok" if summary.ok else "attention needed"
    dry = ", dry run (nothing sent)" if summary.dry_run else ""
    lines = [
        f"run {state}: clock {summary.as_of.isoformat(timespec='seconds')}, "
        f"target {summary.target}{dry}, {summary.seconds['total']:.2f} s"
    ]
    lines += _ingest_lines(summary)
    lines.append(_step("quality", summary.seconds["quality"], _quality_text(summary)))
    built = sum(b.inserted for b in summary.payloads)
    rebuilt = sum(b.rebuilt for b in summary.payloads)
    lines.append(
        _step(
            "payloads",
            summary.seconds["payloads"],
            f"+{built:,} rows ({rebuilt:,} rebuilt) for {len(summary.payloads)} destinations"
            if summary.payloads
            else "no destination is enabled in the workspace config",
        )
    )
    lines.append(_step("push", summary.seconds["push"], _push_text(summary)))
    lines += _destination_table(summary.destinations, summary.dry_run)
    problems = summary.problems()
    if problems:
        lines.append("problems:")
        lines += [f"  - {p}" for p in problems]
    lines += [f"note: {note}" for note in summary.notes]
    return lines


def _step(name: str, seconds: float, text: str) -> str:
    return f"{name:<9}{seconds:>7.2f} s  {text}"


def _ingest_lines(summary: RunSummary) -> list[str]:
    files = summary.files
    loaded = summary.loaded
    by_source = (
        f"inbox {sum(f.status == 'loaded' for f in summary.inbox_report.files)}, "
        f"landing {sum(f.status == 'loaded' for f in summary.landing_report.files)}"
    )
    seen = sum(f.status == "already_ingested" for f in files)
    unreadable = [f for f in files if f.failed]
    text = f"new files loaded: {len(loaded)} ({by_source}); already ingested: {seen}"
    if unreadable:
        text += f"; unreadable: {len(unreadable)}"
    lines = [_step("ingest", summary.seconds["ingest"], text)]
    if loaded:
        t = IngestReport(loaded).totals()
        lines.append(
            f"{'':<20}rows in {t['rows_in']:,} = {t['rows_valid']:,} valid + "
            f"{t['rows_quarantined']:,} quarantined + {t['rows_duplicate']:,} duplicate"
        )
    named = (unreadable + loaded)[:FILES_SHOWN]
    lines += [f"  {f.summary()}" for f in named]
    if len(unreadable) + len(loaded) > len(named):
        lines.append(f"  ... and {len(unreadable) + len(loaded) - len(named)} more files")
    return lines


def _quality_text(summary: RunSummary) -> str:
    q = summary.quality
    if not q.ran:
        return f"up to date ({q.events:,} events)"
    return f"{q.mode}: {q.scored:,} of {q.events:,} events scored"


def _push_text(summary: RunSummary) -> str:
    runs = summary.destinations
    if not summary.push.destinations:
        return "nothing to push (no destination enabled)"
    if summary.dry_run:
        would = sum(d.would_send for d in runs)
        return f"would send {would:,} rows; nothing sent"
    halted = sum(d.halted is not None for d in runs)
    text = (
        f"delivered {sum(d.delivered for d in runs):,}, rejected "
        f"{sum(d.rejected for d in runs):,}, failed {sum(d.failed for d in runs):,} "
        f"({sum(d.requests for d in runs):,} requests)"
    )
    return text + (f", {halted} destinations halted" if halted else "")


def _destination_table(runs: list[DestinationRun], dry_run: bool) -> list[str]:
    if not runs:
        return []
    columns = DRY_RUN_COLUMNS if dry_run else SENT_COLUMNS
    widths = [max(len(c), 7) for c in columns]
    head = "  destination " + " ".join(f"{c:>{w}}" for c, w in zip(columns, widths, strict=True))
    lines = [head]
    for run in runs:
        cells = " ".join(f"{getattr(run, c):>{w},}" for c, w in zip(columns, widths, strict=True))
        line = f"  {run.destination:<11} {cells}"
        if run.halted:
            line += "  HALTED (see problems)"
        lines.append(line)
        if run.reasons and (run.rejected or run.failed):
            top = sorted(run.reasons.items(), key=lambda kv: -kv[1])[:REASONS_SHOWN]
            lines.append(f"  {'':<11} " + ", ".join(f"{r} {n:,}" for r, n in top))
    return lines
