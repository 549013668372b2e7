"""Every end-to-end benchmark in one command, with the alternatives users would pick.

    pip install -e ".[bench]"            # dlt and facebook-business, for the comparisons
    python benchmarks/run_all.py         # 100k and 1M events
    python benchmarks/run_all.py --with-10m

For each size: a seeded file of wide synthetic events (all three input shapes, 58 contract
fields at realistic fill rates, ~2% resends, ~1% broken lines) is generated once under
benchmarks/out/. Then each step runs in a fresh Python process on the same warehouse
file, and we record its wall time, CPU time and peak RSS (``wait4`` of the child):
DuckDB ``read_json`` of the file (the floor), our ingest + validate, quality + dedup,
payloads for all eight destinations, push to the local platform emulator, and the
funnel report; then dlt loading the same NDJSON into DuckDB, a per-event Python loop
building Meta payloads with the facebook-business SDK's normalization and hashing, and
the same job with this library (``meta_ours``: Meta's match keys, dedup, routing and the
Meta table, on a copy of the warehouse as the ingest left it).
Results go to benchmarks/out/results.md (and .json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

OUT = Path(__file__).parent / "out"
ROOT = Path(__file__).parent.parent
CONFIG = ROOT / "trackstack.toml"
CHILDREN = Path(__file__).parent / "steps.py"


@dataclass
class Measure:
    step: str
    seconds: float
    cpu_seconds: float
    peak_rss_mib: int
    detail: dict


def run_step(step: str, *args: str, env: dict[str, str] | None = None) -> Measure:
    """One step of benchmarks/steps.py in a fresh interpreter."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(CHILDREN), step, *args],
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"step {step} failed (status {status}): {out[-2000:]}")
    detail = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    measure = Measure(step, round(wall, 2), round(usage.ru_utime + usage.ru_stime, 2),
                      round(usage.ru_maxrss / 1024), detail)  # fmt: skip
    print(f"  {step}: {json.dumps(asdict(measure))}", file=sys.stderr, flush=True)
    return measure


def machine() -> dict[str, str]:
    model = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    mem_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )  # fmt: skip
    versions = {}
    for name in ("duckdb", "polars", "pandera", "dlt", "facebook_business"):
        try:
            module = __import__(name)
            versions[name] = getattr(module, "__version__", "?")
        except ImportError:
            versions[name] = "not installed"
    return {
        "date": dt.date.today().isoformat(),
        "cpu": f"{model}, {os.cpu_count()} cores",
        "memory": f"{mem_kb / 2**20:.0f} GiB",
        "python": platform.python_version(),
        **versions,
    }


def bench_size(events: int, seed: int, *, dlt: bool, sdk: bool) -> list[Measure]:
    data = OUT / f"wide_{events}_{seed}.ndjson"
    if not data.exists():
        run_step("generate", str(data), str(events), str(seed))
    run_step("warm", str(data))  # the file in the page cache for every reader alike
    db = OUT / f"bench_{events}.duckdb"
    floor_db = OUT / f"floor_{events}.duckdb"
    for path in (db, floor_db):
        path.unlink(missing_ok=True)
    steps = [run_step("floor", str(data), str(floor_db))]
    meta_db = OUT / f"meta_{events}.duckdb"
    for step in ("ingest", "quality", "payloads", "push", "funnel"):
        steps.append(run_step(step, str(data), str(db), str(CONFIG)))
        if step == "ingest" and sdk:
            shutil.copyfile(db, meta_db)  # the ingested events, for the Meta-only path
    if sdk:
        steps.append(run_step("meta_sdk_loop", str(data)))
        steps.append(run_step("meta_ours", str(data), str(meta_db), str(CONFIG)))
        meta_db.unlink()
    if dlt:
        dlt_dir = OUT / f"dlt_{events}"
        shutil.rmtree(dlt_dir, ignore_errors=True)
        steps.append(run_step("dlt", str(data), str(dlt_dir),
                              env={"RUNTIME__DLTHUB_TELEMETRY": "false"}))  # fmt: skip
        shutil.rmtree(dlt_dir, ignore_errors=True)
    floor_db.unlink(missing_ok=True)
    db.unlink(missing_ok=True)
    return steps


def table(events: int, steps: list[Measure]) -> list[str]:
    by = {m.step: m for m in steps}
    floor = by["floor"].seconds
    through_payloads = sum(by[s].seconds for s in ("ingest", "quality", "payloads"))
    rows = [
        ("DuckDB `read_json` -> table (floor)", by["floor"]),
        ("ingest + validate", by["ingest"]),
        ("quality + dedup", by["quality"]),
        ("payloads, 8 destinations", by["payloads"]),
        ("push to the platform emulator", by["push"]),
        ("funnel report", by["funnel"]),
    ]
    lines = [
        f"### {events:,} events",
        "",
        "| step | wall s | CPU s | peak RSS MiB | x floor | detail |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, m in rows:
        lines.append(f"| {name} | {m.seconds:.2f} | {m.cpu_seconds:.2f} | {m.peak_rss_mib:,} | "
                     f"{m.seconds / floor:.2f} | {_detail(m)} |")  # fmt: skip
    peak = max(by[s].peak_rss_mib for s in ("ingest", "quality", "payloads", "push", "funnel"))
    lines.append(f"| **end to end through payloads** | **{through_payloads:.2f}** | | "
                 f"{peak:,} | **{through_payloads / floor:.2f}** | |")  # fmt: skip
    total = through_payloads + by["push"].seconds + by["funnel"].seconds
    lines.append(f"| end to end through push and funnel | {total:.2f} | | {peak:,} | "
                 f"{total / floor:.2f} | |")  # fmt: skip
    if "dlt" in by:
        m = by["dlt"]
        lines.append(f"| dlt load alone (NDJSON -> DuckDB) | {m.seconds:.2f} | "
                     f"{m.cpu_seconds:.2f} | {m.peak_rss_mib:,} | {m.seconds / floor:.2f} | "
                     f"{_detail(m)}; ours through payloads is "
                     f"{m.seconds / through_payloads:.1f}x faster |")  # fmt: skip
    if "meta_sdk_loop" in by:
        m = by["meta_sdk_loop"]
        ours = by["quality"].seconds + by["payloads"].detail["per_destination_s"]["meta"]
        lines.append(f"| Meta payloads, per-event SDK loop | {m.seconds:.2f} | "
                     f"{m.cpu_seconds:.2f} | {m.peak_rss_mib:,} | {m.seconds / floor:.2f} | "
                     f"{_detail(m)}; ours (all hashing + Meta table) {ours:.2f} s: "
                     f"{m.seconds / ours:.1f}x faster |")  # fmt: skip
    if "meta_ours" in by and "meta_sdk_loop" in by:
        m, sdk = by["meta_ours"], by["meta_sdk_loop"]
        lines.append(f"| Meta payloads, ours (Meta keys, dedup, routing, table) | "
                     f"{m.seconds:.2f} | {m.cpu_seconds:.2f} | {m.peak_rss_mib:,} | "
                     f"{m.seconds / floor:.2f} | {_detail(m)}; "
                     f"{sdk.seconds / m.seconds:.1f}x faster than the SDK loop |")  # fmt: skip
    return [*lines, ""]


def _detail(m: Measure) -> str:
    skip = {"per_destination_s"}
    return ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}"
                     for k, v in m.detail.items() if k not in skip)  # fmt: skip


def scaling(results: dict[int, list[Measure]]) -> list[str]:
    steps = ("ingest", "quality", "payloads", "push", "funnel")
    lines = ["### Scaling (microseconds per input event, peak RSS MiB)", "",
             "| step | " + " | ".join(f"{n:,}" for n in results) + " |",
             "|---|" + "---:|" * len(results)]  # fmt: skip
    for step in ("floor", *steps, "dlt", "meta_sdk_loop", "meta_ours"):
        cells = []
        for n, measures in results.items():
            m = next((x for x in measures if x.step == step), None)
            cells.append("" if m is None else f"{m.seconds / n * 1e6:.1f} us, {m.peak_rss_mib:,}")
        if any(cells):
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100000,1000000",
                        help="comma-separated event counts")  # fmt: skip
    parser.add_argument("--with-10m", action="store_true", help="add 10,000,000 events")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument("--no-sdk", action="store_true")
    parser.add_argument("--sdk-max-events", type=int, default=1_000_000,
                        help="skip the (slow) SDK loop above this size")  # fmt: skip
    parser.add_argument("--dlt-max-events", type=int, default=100_000,
                        help="skip dlt above this size (at 100k it took ~5 min and ~10 GB "
                        "here; 1M would not fit this machine's memory)")  # fmt: skip
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")] + ([10_000_000] if args.with_10m else [])
    OUT.mkdir(exist_ok=True)
    info = machine()
    results: dict[int, list[Measure]] = {}
    for n in sizes:
        print(f"{n:,} events ...", file=sys.stderr)
        results[n] = bench_size(n, args.seed, dlt=not args.no_dlt and n <= args.dlt_max_events,
                                sdk=not args.no_sdk and n <= args.sdk_max_events)  # fmt: skip
        print("\n".join(table(n, results[n])), file=sys.stderr)
    lines = ["## Results", "", "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), ""]
    for n, measures in results.items():
        lines += table(n, measures)
    lines += scaling(results)
    (OUT / "results.md").write_text("\n".join(lines))
    (OUT / "results.json").write_text(json.dumps(
        {"machine": info, "results": {n: [asdict(m) for m in ms] for n, ms in results.items()}},
        indent=2))  # fmt: skip
    print("\n".join(lines))


if __name__ == "__main__":
    main()
