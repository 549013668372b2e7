"""The pipeline so far (ingest + validate, quality + dedup, payloads for all eight
destinations) against DuckDB's own read_json on the same file, in the same run.

    python benchmarks/ingest_benchmark.py --events 1000000 [--rounds 3]

Payloads use the repository's demo workspace (trackstack.toml: every destination on),
with event ages judged at the newest event's time, as the demo does.

Generates a seeded NDJSON file (cached under benchmarks/out/), then runs each measurement
in a fresh Python process and reports wall time and the child's peak RSS (from wait4).
This VM's speed drifts 10-25% between minutes, so the measurements run in interleaved
rounds (floor, then ours) and each ratio is taken within a round; the median of the
rounds' ratios is the summary.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"

FLOOR = """
import duckdb, sys
c = duckdb.connect(sys.argv[2])
c.execute("set enable_progress_bar = false")
c.execute("create table t as select * from read_json(?, ignore_errors=true)", [sys.argv[1]])
"""

OURS = """
import sys, json, time
import trackstack_wh as tw
with tw.connect(sys.argv[2], config=sys.argv[3]) as wh:
    started = time.perf_counter()
    report = wh.ingest(sys.argv[1])
    ingest_s = time.perf_counter() - started
    run = wh.refresh_quality()
    started = time.perf_counter()
    built = wh.build_payloads(as_of=wh.replay_clock())
    payloads_s = time.perf_counter() - started
    ready = wh.payload_summary().filter(status="ready")["rows"].sum()
print(json.dumps({**report.to_dict()["totals"], "ingest_s": round(ingest_s, 2),
                  "quality_and_dedup_s": round(run.seconds, 2),
                  "payloads_s": round(payloads_s, 2),
                  "payload_rows": sum(r.inserted for r in built), "ready_rows": ready,
                  "per_destination_s": {r.destination: round(r.seconds, 2) for r in built}}))
"""
CONFIG = Path(__file__).parent.parent / "trackstack.toml"
GENERATE = """
import sys
from trackstack_lab.synthetic import SyntheticSpec, write_ndjson
write_ndjson(sys.argv[1], SyntheticSpec(n=int(sys.argv[2]), seed=int(sys.argv[3]),
                                        malformed_rate=0.01))
"""


def run(code: str, *args: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of ``code`` in a fresh interpreter."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"benchmark child failed with status {status}")
    return wall, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    data = OUT / f"events_{args.events}_{args.seed}.ndjson"
    # Generated and read (into the page cache) by child processes: Linux carries a
    # parent's peak RSS into the children it forks, which would inflate their figures.
    if not data.exists():
        subprocess.run([sys.executable, "-c", GENERATE, str(data), str(args.events),
                        str(args.seed)], check=True)  # fmt: skip
    size_mb = data.stat().st_size / 2**20
    subprocess.run([sys.executable, "-c", "import sys; open(sys.argv[1], 'rb').read()",
                    str(data)], check=True)  # fmt: skip
    runs = (
        ("duckdb read_json -> table (in memory)", FLOOR, ":memory:"),
        ("duckdb read_json -> table (file)", FLOOR, str(OUT / "floor.duckdb")),
        ("trackstack_wh ingest..payloads (file)", OURS, str(OUT / "wh.duckdb")),
    )
    rounds = []
    for _ in range(args.rounds):  # interleaved, so each round's ratios share its noise
        results = {}
        for name, code, db in runs:
            if db != ":memory:":
                Path(db).unlink(missing_ok=True)
            wall, rss, out = run(code, str(data), db, str(CONFIG))
            results[name] = {"seconds": round(wall, 2), "peak_rss_mib": round(rss),
                             "out": out.strip()}  # fmt: skip
        rounds.append(results)
    print(f"file: {data.name} ({size_mb:.0f} MiB), {args.rounds} rounds")
    ratios: dict[str, list[float]] = {}
    for number, results in enumerate(rounds, 1):
        file = results["duckdb read_json -> table (file)"]["seconds"]
        ours = json.loads(results["trackstack_wh ingest..payloads (file)"]["out"])
        stages = {
            "ingest": ours["ingest_s"],
            "ingest..quality": ours["ingest_s"] + ours["quality_and_dedup_s"],
            "whole run (ingest..payloads)": results["trackstack_wh ingest..payloads (file)"][
                "seconds"
            ],
        }
        print(f"round {number}: read_json (file) {file:.2f} s")
        for name, r in results.items():
            print(f"  {name:40s} {r['seconds']:8.2f} s {r['peak_rss_mib']:6d} MiB  {r['out']}")
        for stage, seconds in stages.items():
            ratios.setdefault(stage, []).append(seconds / file)
            print(f"  {stage:40s} {seconds:8.2f} s = {seconds / file:.2f}x read_json (file)")
    print("ratio to read_json (file), per round, and the median of the rounds:")
    for stage, values in ratios.items():
        listed = ", ".join(f"{v:.2f}" for v in values)
        print(f"  {stage:30s} {listed}  median {statistics.median(values):.2f}")
    (OUT / "ingest_results.json").write_text(json.dumps(rounds, indent=2))


if __name__ == "__main__":
    main()
