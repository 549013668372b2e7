"""Doctor checks of what left and what waits: the last live delivery per destination,
delivery freshness against ``[freshness]``, the quarantine rate with its top reasons, and
the sink's landing segments not ingested yet."""

from __future__ import annotations

import datetime as dt

from trackstack_wh.config import LIVE
from trackstack_wh.db import query_frame
from trackstack_wh.doctor.report import OK, WARN, Check
from trackstack_wh.doctor.scope import INGEST_FIX, Scope
from trackstack_wh.doctor.setup import no_destination
from trackstack_wh.health import freshness_verdicts, quarantine_rate
from trackstack_wh.payloads.inspect import existing_tables
from trackstack_wh.reports.freshness import human_duration
from trackstack_wh.sink.segments import backlog

QUARANTINE_RATE_LIMIT = 0.05
"""More than 5% of the records ingested quarantined is a warning."""
TOP_REASONS = 3
OPEN_SEGMENT_SLACK = 2.0
"""An open segment older than this many ``[sink] segment_max_age_seconds`` was left by a
sink that stopped (a running sink closes it by then)."""
PUSH_FIX = (
    "run `trackstack-wh push` (or `run` from cron, or the Dagster intraday sensor with "
    "TRACKSTACK_PLATFORMS=live), then `trackstack-wh reconcile`"
)

LAST_DELIVERED_SQL = """
select destination,
    max(sent_at) filter (target = $live) as live_at,
    max(sent_at) as any_at,
    arg_max(target, sent_at) as any_target
from delivery_log
where mode = $live and outcome = 'delivered'
  and destination in (select unnest($destinations::varchar[]))
group by 1
"""

REASONS_SQL = """
select reason, count(*)::bigint as records from quarantine
group by 1 order by 2 desc, 1 limit $n
"""


def _ago(when: dt.datetime, now: dt.datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M} UTC ({human_duration((now - when).total_seconds())} ago)"


def deliveries(scope: Scope) -> Check:
    """Every enabled destination has a delivery to the live platform in the log."""
    names = [d.name for d in scope.enabled()]
    if not names:
        return no_destination("deliveries", scope)
    found = query_frame(
        scope.conn, LAST_DELIVERED_SQL, {"live": LIVE, "destinations": names}
    ).rows_by_key("destination", named=True, unique=True)
    live: list[str] = []
    never: list[str] = []
    elsewhere: dict[str, list[str]] = {}
    for name in names:
        row = found.get(name)
        if row is not None and row["live_at"] is not None:
            live.append(f"{name} {_ago(row['live_at'], scope.as_of)}")
            continue
        never.append(name)
        if row is not None:
            elsewhere.setdefault(row["any_target"], []).append(name)
    last = f"last live delivery: {'; '.join(live)}" if live else ""
    if never:
        parts = [f"never delivered live: {', '.join(never)}"]
        for target, ds in elsewhere.items():
            who = "each" if len(ds) == len(never) else ", ".join(ds)
            parts.append(f"{who} delivered only to target '{target}'")
        return Check("deliveries", WARN, "; ".join(filter(None, [*parts, last])), PUSH_FIX)
    return Check("deliveries", OK, last)


def freshness(scope: Scope) -> Check:
    """Each enabled destination's pipeline lag to delivery, oldest waiting ready row and
    the landing's held segments stay under its ``[freshness]`` limit (as of the clock)."""
    names = {d.name for d in scope.enabled()}
    if not names:
        return no_destination("freshness", scope)
    if not names & set(existing_tables(scope.conn)):
        return Check("freshness", WARN, "no payload rows yet", "run `trackstack-wh payloads`")
    verdicts = [
        v
        for v in freshness_verdicts(
            scope.conn, scope.config.freshness, landing=scope.landing, as_of=scope.as_of
        )
        if v.destination in names
    ]
    stale = [v.explanation for v in verdicts if not v.passed]
    if stale:
        return Check(
            "freshness", WARN, "; ".join(stale),
            f"{PUSH_FIX}; the limits are in [freshness]",
        )  # fmt: skip
    waiting = sum(int(v.figures.get("pending") or 0) for v in verdicts)
    limits = sorted({human_duration(v.warn_after_seconds) for v in verdicts})
    return Check(
        "freshness", OK,
        f"{len(verdicts)} destination(s) within their [freshness] limits ({', '.join(limits)}); "
        f"{waiting:,} ready row(s) waiting",
    )  # fmt: skip


def quarantine(scope: Scope) -> Check:
    """The share of every record ingested that was quarantined, and its top reasons."""
    rate = quarantine_rate(scope.conn)
    if not rate.rows_in:
        return Check("quarantine", WARN, "nothing ingested yet: no quarantine rate", INGEST_FIX)
    reasons = query_frame(scope.conn, REASONS_SQL, {"n": TOP_REASONS})
    top = ", ".join(f"{r} {n:,}" for r, n in reasons.iter_rows())
    detail = (
        f"{rate.quarantined:,} of {rate.rows_in:,} records ingested quarantined "
        f"({rate.rate:.1%})" + (f"; top reasons: {top}" if top else "")
    )
    if rate.rate > QUARANTINE_RATE_LIMIT:
        return Check(
            "quarantine", WARN, f"{detail}: over {QUARANTINE_RATE_LIMIT:.0%}",
            "`trackstack-wh quarantine --summary` names each reason's fix: fix the sender, or "
            "the config and `trackstack-wh quarantine --replay`",
        )  # fmt: skip
    return Check("quarantine", OK, detail)


def landing(scope: Scope) -> Check:
    """Segments in the sink's landing directory not ingested yet, and open ones a
    stopped sink left behind (ages at the clock)."""
    root = scope.landing
    if not root.is_dir():
        return Check("landing", OK, f"no landing directory at {root}: nothing waits for ingest")
    held = backlog(root, as_of=scope.as_of)
    stuck_after = OPEN_SEGMENT_SLACK * scope.config.sink.segment_max_age_seconds
    problems: list[str] = []
    fixes: list[str] = []
    if held.closed_segments:
        problems.append(
            f"{held.closed_segments:,} closed segment(s) ({held.closed_bytes:,} bytes) in {root} "
            f"not ingested, the oldest {human_duration(held.oldest_closed_seconds)} old"
        )
        fixes.append(f"run `trackstack-wh ingest --landing {root}` (or the Dagster landing_sensor)")
    if held.oldest_open_seconds is not None and held.oldest_open_seconds > stuck_after:
        problems.append(
            f"an open segment is {human_duration(held.oldest_open_seconds)} old: its sink stopped"
        )
        fixes.append(f"start `trackstack-wh serve --landing {root}` again: it recovers the segment")
    if problems:
        return Check("landing", WARN, "; ".join(problems), "; ".join(fixes))
    writing = f"{held.open_segments:,} open segment(s) being written"
    return Check("landing", OK, f"nothing waits in {root} for ingest ({writing})")
