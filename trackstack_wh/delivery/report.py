"""What a push did: per destination counts, in text, HTML and polars."""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import polars as pl

from trackstack_wh.delivery.verdicts import Failure
from trackstack_wh.errors import NotFoundError


@dataclass
class DestinationReport:
    """One destination's share of a push."""

    destination: str
    mode: str
    is_dry_run: bool
    target: str = "live"
    """Where the requests went: ``live``, ``emulator`` or a URL prefix."""
    pending: int = 0
    """Ready rows without a final outcome when the push started."""
    delivered: int = 0
    rejected: int = 0
    failed: int = 0
    superseded: int = 0
    """CRM rows whose record state went out in a later row's request."""
    dry_run_rows: int = 0
    requests: int = 0
    retries: int = 0
    splits: int = 0
    platform_accepted: int = 0
    """What the platform said it accepted, where it says (Meta ``events_received``)."""
    api_usage: str | None = None
    """The org's daily API usage as last reported (Salesforce)."""
    halted: str | None = None
    reasons: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def settled(self) -> int:
        """Pending rows this run has given an outcome (a dry run's included)."""
        return self.delivered + self.rejected + self.failed + self.superseded + self.dry_run_rows

    @property
    def not_sent(self) -> int:
        """Pending rows this run left untouched (a halted destination)."""
        return max(0, self.pending - self.settled)

    @property
    def events_per_second(self) -> float:
        return (self.delivered + self.rejected) / self.seconds if self.seconds else 0.0

    def finish(self, reasons: Counter[str], halted: Failure | None, seconds: float) -> None:
        self.reasons = dict(reasons.most_common())
        self.halted = None if halted is None else f"{halted.error_class}: {halted.message}"
        self.seconds = round(seconds, 3)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("dry_run_rows")
        out["dry_run"] = self.dry_run_rows
        out["not_sent"] = self.not_sent
        return out


COLUMNS = (
    "destination", "mode", "target", "pending", "delivered", "rejected", "failed", "superseded",
    "dry_run", "not_sent", "requests", "retries", "seconds", "halted",
)  # fmt: skip


@dataclass
class PushReport:
    """Every destination's result; ``ok`` when nothing failed or halted."""

    run_id: str
    destinations: list[DestinationReport]

    @property
    def ok(self) -> bool:
        return all(not d.failed and not d.halted and not d.errors for d in self.destinations)

    @property
    def df(self) -> pl.DataFrame:
        return pl.DataFrame(
            [{c: d.to_dict()[c] for c in COLUMNS} for d in self.destinations],
            schema_overrides={"halted": pl.String},
        )

    def __getitem__(self, destination: str) -> DestinationReport:
        for report in self.destinations:
            if report.destination == destination:
                return report
        raise NotFoundError(
            f"no destination {destination!r} in this push; it covered "
            f"{[r.destination for r in self.destinations]}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "ok": self.ok,
                "destinations": [d.to_dict() for d in self.destinations]}  # fmt: skip

    def __repr__(self) -> str:
        lines = [f"push {self.run_id[:8]}: " + ("ok" if self.ok else "attention needed")]
        for d in self.destinations:
            where = d.mode if d.target == "live" else f"{d.mode}->{d.target}"
            line = (
                f"  {d.destination:<11} {where:<8} delivered {d.delivered:>9,}  "
                f"rejected {d.rejected:>7,}  failed {d.failed:>7,}"
            )
            if d.superseded:
                line += f"  superseded {d.superseded:,}"
            if d.dry_run_rows:
                line += f"  dry-run {d.dry_run_rows:,}"
            if d.not_sent:
                line += f"  not sent {d.not_sent:,}"
            line += f"  ({d.requests:,} requests, {d.seconds:.1f} s)"
            if d.api_usage:
                line += f"  API usage {d.api_usage}"
            if d.halted:
                line += f"  HALTED {d.halted}"
            lines.append(line)
            lines.extend(f"      {reason}: {n:,}" for reason, n in d.reasons.items())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{c}</th>" for c in COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(d.to_dict()[c] or ''))}</td>"
                             for c in COLUMNS) + "</tr>"
            for d in self.destinations
        )  # fmt: skip
        status = "ok" if self.ok else "attention needed"
        return (
            f"<div><b>push {html.escape(self.run_id[:8])}</b>: {status}"
            f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
        )
