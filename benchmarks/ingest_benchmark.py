"""The pipeline so far (ingest + validate, quality + dedup, payloads for all eight
destinations) against DuckDB's own read_json on the same file, in the same run.

    python benchmarks/ingest_benchmark.py --events 1000000

Payloads use the repository's demo workspace (trackstack.toml: every destination on),
with event ages judged at the newest event's time, as the demo does.

Generates a seeded NDJSON file (cached under benchmarks/out/), then runs each measurement
in a fresh Python process and reports wall time and the child's peak RSS (from wait4).
"""

from __future__ import annotations

import argparse
import json
import os
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
from trackstack_wh.synthetic import SyntheticSpec, write_ndjson
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
    results = {}
    runs = (
        ("duckdb read_json -> table (in memory)", FLOOR, ":memory:"),
        ("duckdb read_json -> table (file)", FLOOR, str(OUT / "floor.duckdb")),
        ("trackstack_wh ingest..payloads (file)", OURS, str(OUT / "wh.duckdb")),
    )
    for name, code, db in runs:
        if db != ":memory:":
            Path(db).unlink(missing_ok=True)
        wall, rss, out = run(code, str(data), db, str(CONFIG))
        results[name] = {"seconds": round(wall, 2), "peak_rss_mib": round(rss), "out": out.strip()}
    memory = results["duckdb read_json -> table (in memory)"]["seconds"]
    file = results["duckdb read_json -> table (file)"]["seconds"]
    print(f"file: {data.name} ({size_mb:.0f} MiB)")
    print(f"{'run':42s} {'seconds':>8s} {'x file':>7s} {'x memory':>9s} {'peak RSS':>9s}")
    for name, r in results.items():
        print(
            f"{name:42s} {r['seconds']:8.2f} {r['seconds'] / file:7.2f} "
            f"{r['seconds'] / memory:9.2f} {r['peak_rss_mib']:5d} MiB  {r['out']}"
        )
    (OUT / "ingest_results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
