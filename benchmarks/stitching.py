"""What match-key stitching adds to the quality and payload stages.

    python benchmarks/stitching.py                    # 1M events, 3 rounds
    python benchmarks/stitching.py --events 100000    # a quick look

A seeded file of wide synthetic events (people with many events, sessions, click IDs on a
share of them) is ingested once. Each round copies that warehouse twice and runs
``refresh_quality()`` and ``build_payloads()`` (every destination of the repository's
``trackstack.toml``, at the data's own clock) once with ``[stitching] enabled = false``
and once with stitching on, in alternating order. Goal (issue 26): stitching adds at most
30% to quality + payloads. Results go to benchmarks/out/stitching.md (and .json).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trackstack_wh as tw  # noqa: E402
from trackstack_lab.synthetic import SyntheticSpec, write_ndjson  # noqa: E402
from trackstack_wh.config import load_config  # noqa: E402
from trackstack_wh.config.stitching import StitchSettings  # noqa: E402

OUT = Path(__file__).parent / "out"
CONFIG = Path(__file__).resolve().parent.parent / "trackstack.toml"
GOAL = 1.30


def _base(events: int, work: Path) -> Path:
    data = work / f"events_{events}.ndjson"
    if not data.exists():
        write_ndjson(data, SyntheticSpec(n=events, seed=26, wide=True))
    base = work / f"base_{events}.duckdb"
    if not base.exists():
        with tw.connect(base, config=load_config(CONFIG)) as wh:
            wh.ingest(data)
    return base


def _measure(base: Path, work: Path, enabled: bool, without: list[str]) -> dict[str, float]:
    db = work / "round.duckdb"
    shutil.copyfile(base, db)
    config = load_config(CONFIG)
    kept = {n: d for n, d in config.destinations.items() if n not in without}
    config = dataclasses.replace(
        config, destinations=kept, stitching=StitchSettings(enabled=enabled)
    )
    with tw.connect(db, config=config) as wh:
        clock = wh.replay_clock()
        started = time.perf_counter()
        wh.refresh_quality()
        quality = time.perf_counter() - started
        started = time.perf_counter()
        wh.build_payloads(as_of=clock)
        payloads = time.perf_counter() - started
        stitched = wh.sql("select count(*) from event_stitch").item()
        people = wh.sql("select count(distinct person) from person_rows").item()
    db.unlink()
    return {"quality_s": quality, "payloads_s": payloads, "total_s": quality + payloads,
            "stitched_events": stitched, "people": people}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--without", default="", help="destinations left out, comma-separated (e.g. posthog)"
    )
    args = parser.parse_args()
    work = OUT / "stitching"
    work.mkdir(parents=True, exist_ok=True)
    base = _base(args.events, work)
    without = [n for n in args.without.split(",") if n]
    runs: dict[str, list[dict[str, float]]] = {"off": [], "on": []}
    for n in range(args.rounds):
        order = ("off", "on") if n % 2 == 0 else ("on", "off")
        for mode in order:
            result = _measure(base, work, enabled=mode == "on", without=without)
            runs[mode].append(result)
            print(f"round {n + 1} stitching {mode}: {json.dumps(result)}", flush=True)
    median = {
        mode: {k: statistics.median(r[k] for r in results) for k in results[0]}
        for mode, results in runs.items()
    }
    ratio = median["on"]["total_s"] / median["off"]["total_s"]
    summary = {"events": args.events, "rounds": args.rounds, "median": median,
               "ratio": ratio, "goal": GOAL, "met": ratio <= GOAL, "runs": runs}  # fmt: skip
    (OUT / "stitching.json").write_text(json.dumps(summary, indent=2))
    lines = [
        f"# Stitching cost, {args.events:,} events, median of {args.rounds} rounds",
        "",
        "| stitching | quality s | payloads s | quality + payloads s | stitched events |",
        "|---|---|---|---|---|",
    ]
    for mode in ("off", "on"):
        m = median[mode]
        lines.append(
            f"| {mode} | {m['quality_s']:.2f} | {m['payloads_s']:.2f} | {m['total_s']:.2f} "
            f"| {int(m['stitched_events']):,} |"
        )
    lines += ["", f"Ratio on/off: {ratio:.2f} (goal at most {GOAL:.2f}: "
              f"{'met' if ratio <= GOAL else 'not met'})."]  # fmt: skip
    (OUT / "stitching.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
