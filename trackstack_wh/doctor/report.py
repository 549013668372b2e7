"""What ``trackstack-wh doctor`` returns: one ``Check`` per item of the setup checklist,
judged ``ok``, ``warn`` or ``fail``, with a one-line fix, and their text and JSON forms."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

OK = "ok"
WARN = "warn"
FAIL = "fail"
STATUSES = (OK, WARN, FAIL)
"""From best to worst."""


@dataclass(frozen=True)
class Check:
    """One checklist item: its ``status``, what was found (``detail``; never a secret)
    and what to change (``fix``; empty when there is nothing to do)."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def worst(statuses: Iterable[str]) -> str:
    """The worst of ``statuses`` (``ok`` for none)."""
    return max(statuses, key=STATUSES.index, default=OK)


@dataclass(frozen=True)
class DoctorReport:
    """Every check in checklist order, and the window of events they judged."""

    checks: Sequence[Check]
    window: str = ""
    """Which events the data checks read, e.g. ``events of the last 30 days (...)``."""

    @property
    def ok(self) -> bool:
        """No check failed (warnings allowed): the CLI's exit code 0."""
        return all(c.status != FAIL for c in self.checks)

    @property
    def status(self) -> str:
        return worst(c.status for c in self.checks)

    def check(self, name: str) -> Check:
        """The check called ``name`` (KeyError when there is none)."""
        for found in self.checks:
            if found.name == name:
                return found
        raise KeyError(name)

    def counts(self) -> dict[str, int]:
        """Checks per status."""
        return {s: sum(c.status == s for c in self.checks) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        """``{"checks": [{"name", "status", "detail", "fix"}, ...]}``."""
        return {"checks": [c.to_dict() for c in self.checks]}

    def to_frame(self) -> pl.DataFrame:
        return pl.DataFrame(
            [c.to_dict() for c in self.checks],
            schema=dict.fromkeys(("name", "status", "detail", "fix"), pl.String),
        )

    def summary(self) -> str:
        """``14 checks: 9 ok, 4 warn, 1 fail``."""
        counts = self.counts()
        return f"{len(self.checks)} checks: " + ", ".join(f"{counts[s]} {s}" for s in STATUSES)

    def to_text(self, width: int = 110) -> str:
        """A table: status, check and detail (wrapped to ``width``), the fix on its own line."""
        name_width = max([len("check"), *(len(c.name) for c in self.checks)])
        indent = " " * (8 + name_width + 2)
        room = max(width - len(indent), 30)
        lines = [f"{'status':<8}{'check':<{name_width + 2}}detail"]
        for check in self.checks:
            head = f"{check.status:<8}{check.name:<{name_width + 2}}"
            body = textwrap.wrap(check.detail, room, break_on_hyphens=False) or [""]
            if check.fix:
                body.append(f"fix: {check.fix}")  # one line, never wrapped: copy it whole
            lines.append(head + body[0])
            lines.extend(indent + line for line in body[1:])
        lines += ["", self.summary()]
        if self.window:
            lines.insert(0, self.window)
            lines.insert(1, "")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        html: str = self.to_frame()._repr_html_()
        return html
