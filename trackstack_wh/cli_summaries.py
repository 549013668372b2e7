"""What the command line adds to a summary: payloads per destination with the reasons
rows were skipped or events routed elsewhere, and notes on what is still on its way."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from trackstack_wh.config import SinkSettings
from trackstack_wh.payloads.inspect import NOT_ROUTED
from trackstack_wh.sink.segments import backlog

OVERVIEW_STATUSES = ("ready", "skipped", "duplicate", NOT_ROUTED)


def payload_overview(summary: pl.DataFrame) -> pl.DataFrame:
    """One row per destination: ready / skipped / duplicate / not routed, and the
    reasons of the skipped and of the events routed elsewhere or nowhere."""
    if summary.is_empty():
        return pl.DataFrame({"destination": [], **{s: [] for s in OVERVIEW_STATUSES}})
    counts = summary.group_by("destination").agg(
        *(pl.col("rows").filter(pl.col("status") == s).sum().alias(s) for s in OVERVIEW_STATUSES)
    )
    for status, column in (("skipped", "skipped_by_reason"), (NOT_ROUTED, "not_routed_by_reason")):
        reasons = (
            summary.filter(pl.col("status") == status)
            .group_by("destination", "skip_reason")
            .agg(pl.col("rows").sum())
            .sort("rows", descending=True)
            .group_by("destination", maintain_order=True)
            .agg(
                pl.format("{} {}", pl.col("skip_reason"), pl.col("rows"))
                .str.join(", ")
                .alias(column)
            )
        )
        counts = counts.join(reasons, on="destination", how="left")
    return counts.sort("destination")


def nothing_routed(summary: pl.DataFrame) -> str | None:
    """A warning when events exist but none reached any destination's payloads."""
    built = summary.filter(pl.col("status") != NOT_ROUTED)["rows"].sum()
    not_routed = summary.filter(pl.col("status") == NOT_ROUTED)
    if built or not_routed.is_empty():
        return None
    reasons = (
        not_routed.group_by("skip_reason").agg(pl.col("rows").sum()).sort("rows", descending=True)
    )
    listed = ", ".join(f"{r} {n:,}" for r, n in reasons.iter_rows())
    return (
        f"warning: no event was routed to any destination (event routes: {listed}); "
        "domain_not_allowed: add your page hosts to [workspace] allowed_domains in "
        "trackstack.toml; not_in_allowlist / no_event_mapping: see the destination's "
        "events and event names (README 'Destinations and payloads')"
    )


def open_segments_note(landing: Path, settings: SinkSettings) -> str | None:
    """What is still being written in the landing directory, and when it will close."""
    waiting = backlog(landing)
    if not waiting.open_segments:
        return None
    age = waiting.oldest_open_seconds or 0.0
    closes_in = max(0.0, settings.segment_max_age_seconds - age)
    return (
        f"note: {waiting.open_segments} landing segment(s) still open (being written by the "
        f"sink, or left by one that stopped): not loaded yet. The sink closes a segment "
        f"{settings.segment_idle_seconds:g} s after its last batch and at most "
        f"{settings.segment_max_age_seconds:g} s after its first (the oldest in about "
        f"{closes_in:.0f} s); a stopped sink closes it when it starts again. Run "
        f"`ingest --landing {landing}` again then."
    )
