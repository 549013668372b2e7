"""A 4-step ordered conversion funnel over a 1M-event warehouse (issue 30).

    python benchmarks/funnels.py                    # 1M events, 3 rounds
    python benchmarks/funnels.py --events 100000    # a quick look

A seeded file of synthetic events (``trackstack_lab.synthetic``, seed 30) is ingested
once into benchmarks/out/funnels/. Each round times ``wh.conversion_funnel()`` for
Awareness -> Interest -> Acquisition -> Activation within 14 days (people from the
``event_people`` view, computed on the fly), then, after ``refresh_quality()``, the same
funnel on the stitched person graph (``person_rows``). Goal: under 5 s. It also checks
that no column named conversion exceeds 1, in this funnel and in the period report.
Results go to benchmarks/out/funnels.md (and .json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trackstack_wh as tw  # noqa: E402
from trackstack_lab.synthetic import SyntheticSpec, write_ndjson  # noqa: E402
from trackstack_wh.funnels import ConversionFunnel  # noqa: E402
from trackstack_wh.reports.base import Report  # noqa: E402

OUT = Path(__file__).parent / "out"
GOAL_S = 5.0
STEPS = ["Awareness", "Interest", "Acquisition", "Activation"]
WINDOW = dt.timedelta(days=14)


def _base(events: int, work: Path) -> Path:
    data = work / f"events_{events}.ndjson"
    if not data.exists():
        write_ndjson(data, SyntheticSpec(n=events, seed=30))
    base = work / f"base_{events}.duckdb"
    if not base.exists():
        partial = base.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        with tw.connect(partial, config=work / "empty.toml") as wh:
            wh.ingest(data)
        partial.replace(base)
    return base


def _check_ratios(wh: tw.Warehouse, funnel: ConversionFunnel) -> None:
    reports: list[Report] = [funnel, wh.funnel("week"), wh.funnel("week", by="channel")]
    for report in reports:
        for name, table in report.tables.items():
            for column in table.columns:
                if "conversion" in column:
                    top = table[column].max()
                    assert top is None or top <= 1, (name, column, top)


def _time(wh: tw.Warehouse) -> tuple[float, ConversionFunnel]:
    started = time.perf_counter()
    funnel = wh.conversion_funnel(STEPS, window=WINDOW)
    return time.perf_counter() - started, funnel


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = OUT / "funnels"
    work.mkdir(parents=True, exist_ok=True)
    (work / "empty.toml").write_text("")
    base = _base(args.events, work)
    db = work / "round.duckdb"
    shutil.copyfile(base, db)
    results: dict[str, list[float]] = {"event_people view": [], "person_rows (stitched)": []}
    people: dict[str, list[int]] = {}
    with tw.connect(db, config=work / "empty.toml") as wh:
        events = wh.sql("select count(*) from events").item()
        for source in results:
            if source.startswith("person_rows"):
                started = time.perf_counter()
                wh.refresh_quality()
                print(f"refresh_quality: {time.perf_counter() - started:.1f} s", flush=True)
            for n in range(args.rounds):
                seconds, funnel = _time(wh)
                results[source].append(seconds)
                people[source] = funnel.df["people"].to_list()
                print(f"round {n + 1} {source}: {seconds:.2f} s {people[source]}", flush=True)
            _check_ratios(wh, funnel)
    db.unlink()
    assert len({tuple(p) for p in people.values()}) == 1, people
    median = {source: statistics.median(times) for source, times in results.items()}
    summary = {"events": events, "rounds": args.rounds, "steps": STEPS, "window_days": 14,
               "people": people, "median_s": median, "runs": results, "goal_s": GOAL_S,
               "met": max(median.values()) < GOAL_S}  # fmt: skip
    (OUT / "funnels.json").write_text(json.dumps(summary, indent=2))
    lines = [
        f"# 4-step ordered funnel, {events:,} events, median of {args.rounds} rounds",
        "",
        f"Steps: {' -> '.join(STEPS)}, window 14 days; people per step: "
        f"{', '.join(f'{p:,}' for p in next(iter(people.values())))}.",
        "",
        "| people from | median s | runs s |",
        "|---|---:|---|",
    ]
    for source, times in results.items():
        runs = ", ".join(f"{t:.2f}" for t in times)
        lines.append(f"| {source} | {median[source]:.2f} | {runs} |")
    verdict = "met" if summary["met"] else "not met"
    lines += ["", f"Goal: under {GOAL_S:.0f} s ({verdict}). No conversion column exceeds 1."]
    (OUT / "funnels.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
