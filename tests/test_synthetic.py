"""The benchmark generator's wide events: many contract fields, all accepted by ingest."""

from __future__ import annotations

from pathlib import Path

import trackstack_wh as tw
from trackstack_lab.synthetic import SyntheticSpec, generate_lines, write_ndjson


def test_wide_events_fill_most_contract_fields_and_load(tmp_path: Path) -> None:
    path = tmp_path / "wide.ndjson"
    write_ndjson(path, SyntheticSpec(n=3000, seed=5, wide=True))
    with tw.connect(tmp_path / "wh.duckdb") as wh:
        totals = wh.ingest(path).totals()
        assert totals["rows_in"] == sum(
            totals[k] for k in ("rows_valid", "rows_quarantined", "rows_duplicate")
        )
        assert totals["rows_quarantined"] / totals["rows_in"] < 0.02
        events = wh.events()
    filled = [c for c in events.columns if events[c].null_count() < events.height]
    assert len(filled) >= 60, filled


def test_the_default_output_does_not_depend_on_the_wide_option() -> None:
    narrow = generate_lines(SyntheticSpec(n=500, seed=9))
    assert narrow.equals(generate_lines(SyntheticSpec(n=500, seed=9, wide=False)))
    assert not narrow.equals(generate_lines(SyntheticSpec(n=500, seed=9, wide=True)))
