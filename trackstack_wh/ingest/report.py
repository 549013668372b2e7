"""Ingest accounting: per file and for a whole call, readable in a terminal and a notebook."""

from __future__ import annotations

import html
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["loaded", "already_ingested", "empty", "unreadable", "failed"]
"""``empty``: a file of zero bytes (nothing recorded); ``unreadable``: the file could not
be read as its format; ``failed``: it could, but loading it failed (and was undone);
nothing of either is in the warehouse."""


@dataclass
class FileReport:
    """What happened to one file: where each of its records went."""

    path: str
    batch_id: str | None
    status: Status
    rows_in: int = 0
    rows_valid: int = 0
    rows_quarantined: int = 0
    rows_duplicate: int = 0
    blank_lines: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    rows_identify: int = 0
    """Identify records among ``rows_valid`` (in ``identities``, not ``events``)."""

    @property
    def failed(self) -> bool:
        """Nothing of the file was loaded: it was unreadable or its load failed."""
        return self.status in ("unreadable", "failed")

    @property
    def balanced(self) -> bool:
        """Every record is accounted for exactly once."""
        return self.rows_in == self.rows_valid + self.rows_quarantined + self.rows_duplicate

    def summary(self) -> str:
        if self.failed:
            return f"{self.path}: {self.status.upper()}: {self.error}"
        if self.status == "already_ingested":
            return f"{self.path}: already ingested as {self.batch_id}; nothing changed"
        reasons = ", ".join(
            f"{k} {v}" for k, v in sorted(self.quarantine_reasons.items(), key=lambda kv: -kv[1])
        )
        if self.status == "empty" or (self.rows_in == 0 and self.blank_lines == 0):
            return f"{self.path}: empty: the file holds no records [{self.seconds:.2f}s]"
        return (
            f"{self.path}: {self.rows_in} in = {self.rows_valid} loaded"
            f"{f' ({self.rows_identify} identify)' if self.rows_identify else ''} + "
            f"{self.rows_quarantined} quarantined + {self.rows_duplicate} duplicate"
            f"{f' (quarantine: {reasons})' if reasons else ''} [{self.seconds:.2f}s]"
        )


@dataclass
class IngestReport:
    """The accounting of one ``ingest`` call over several files."""

    files: list[FileReport]

    @property
    def ok(self) -> bool:
        """No file was unreadable or failed."""
        return not any(f.failed for f in self.files)

    def totals(self) -> dict[str, int]:
        keys = ("rows_in", "rows_valid", "rows_quarantined", "rows_duplicate")
        return {k: sum(getattr(f, k) for f in self.files) for k in keys}

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "totals": self.totals(), "files": [asdict(f) for f in self.files]}

    def __repr__(self) -> str:
        t = self.totals()
        lines = [f.summary() for f in self.files]
        lines.append(
            f"total: {t['rows_in']} in = {t['rows_valid']} loaded + "
            f"{t['rows_quarantined']} quarantined + {t['rows_duplicate']} duplicate"
        )
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = (
            "<tr><th>file</th><th>status</th><th>in</th><th>loaded</th><th>quarantined</th>"
            "<th>duplicate</th><th>top quarantine reasons</th></tr>"
        )
        rows = []
        for f in self.files:
            reasons = ", ".join(
                f"{k}: {v}"
                for k, v in sorted(f.quarantine_reasons.items(), key=lambda kv: -kv[1])[:3]
            )
            status = f"{f.status}: {f.error}" if f.failed else f.status
            cells = [
                f.path,
                status,
                f.rows_in,
                f.rows_valid,
                f.rows_quarantined,
                f.rows_duplicate,
                reasons,
            ]
            rows.append(
                "<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>"
            )
        t = self.totals()
        rows.append(
            f"<tr><th>total</th><td></td><th>{t['rows_in']}</th><th>{t['rows_valid']}</th>"
            f"<th>{t['rows_quarantined']}</th><th>{t['rows_duplicate']}</th><td></td></tr>"
        )
        return f"<table>{head}{''.join(rows)}</table>"
