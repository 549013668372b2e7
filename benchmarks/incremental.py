"""What an intraday run costs on a full warehouse, against the same run on an empty one.

    python benchmarks/incremental.py                      # 1M and 10M events
    python benchmarks/incremental.py --sizes 100000       # a quick look

For each size, a warehouse is built from a seeded file of wide synthetic events (60 days)
and taken through quality, payloads and a push to the local platform emulator, as a
running installation would be (not timed). Then a 10k-event increment (the next day's
events, plus late copies of old purchases and resent eventIds, as real traffic has) goes
through ingest, quality, payloads and push, each step timed on a freshly opened
warehouse; the same increment through an empty warehouse is the yardstick. Each size
runs ``--repeats`` rounds (default 3, both warehouses fresh each round) and reports each
step's median. Goal (issue
25): at most 2x the empty warehouse's time at 1M events and 3x at 10M. Results go to
benchmarks/out/incremental.md (and .json).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import trackstack_wh as tw  # noqa: E402
from trackstack_lab.emulator.process import emulated  # noqa: E402
from trackstack_lab.synthetic import SyntheticSpec, write_ndjson  # noqa: E402
from trackstack_wh.config import WorkspaceConfig, load_config  # noqa: E402

OUT = Path(__file__).parent / "out"
CONFIG = Path(__file__).resolve().parent.parent / "trackstack.toml"
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
DAYS = 60
INCREMENT_DAY = START + dt.timedelta(days=DAYS)
STEPS = ("ingest", "quality", "payloads", "push")
PUSH_SETTINGS = {"requests_per_second": 10_000}
"""Pacing lifted for the loopback emulator (the platforms' real limits are far lower)."""


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def base_file(events: int, seed: int) -> Path:
    path = OUT / f"wide_{events}_{seed}.ndjson"
    if not path.exists():
        log(f"generating {events:,} events -> {path}")
        write_ndjson(path, SyntheticSpec(n=events, seed=seed, wide=True, start=START, days=DAYS))
    return path


def increment_file(base_db: Path, events: int, seed: int, late: int) -> Path:
    """The next day's ``events`` plus ``late`` copies of old purchases (new eventIds,
    some timed before the first copy) and ``late`` eventIds sent again."""
    path = OUT / f"increment_{events}_{seed}_{base_db.stem}.ndjson"
    write_ndjson(path, SyntheticSpec(n=events, seed=seed, wide=True, start=INCREMENT_DAY, days=1))
    with tw.connect(base_db, read_only=True) as wh:
        copies = wh.sql(
            "select event_name, event_id, transaction_id, value, currency, email, "
            "epoch_ms(ts) as ms from events where transaction_id is not null "
            "order by hash(event_id) limit $n",
            n=late,
        )
        resent = wh.sql(
            "select event_name, event_id, epoch_ms(ts) as ms from events "
            "order by hash(event_id || 'x') limit $n",
            n=late,
        )
    with open(path, "ab") as out:
        for i, row in enumerate(copies.iter_rows(named=True)):
            shift = (-3 if i % 3 == 0 else 5) * 3_600_000
            record = {"event": row["event_name"], "eventId": f"late-{row['event_id']}",
                      "ts": row["ms"] + shift, "transactionId": row["transaction_id"],
                      "value": row["value"], "currency": row["currency"],
                      "email": row["email"]}  # fmt: skip
            out.write(orjson.dumps(record) + b"\n")
        for row in resent.iter_rows(named=True):
            record = {"event": row["event_name"], "eventId": row["event_id"], "ts": row["ms"]}
            out.write(orjson.dumps(record) + b"\n")
    return path


def run_steps(db: Path, data: Path, pointed: WorkspaceConfig, clock: dt.datetime) -> dict:
    """Ingest, quality, payloads and push of ``data``, each on a freshly opened warehouse
    (the push with the config ``pointed`` at the emulator)."""
    config = load_config(CONFIG)
    seconds: dict[str, float] = {}
    detail: dict[str, object] = {}
    with tw.connect(db, config=config) as wh:
        seconds["ingest"] = timed(lambda: detail.update(ingest=wh.ingest(data).totals()))
    with tw.connect(db, config=config) as wh:
        seconds["quality"] = timed(lambda: detail.update(quality=wh.refresh_quality().mode))
    with tw.connect(db, config=config) as wh:

        def build() -> None:
            built = wh.build_payloads(as_of=clock)
            detail["rows"] = sum(r.inserted + r.rebuilt for r in built)
            detail["payload_s"] = {r.destination: round(r.seconds, 3) for r in built}

        seconds["payloads"] = timed(build)
    with tw.connect(db, config=pointed) as wh:

        def push() -> None:
            report = wh.push(as_of=clock, delivery=PUSH_SETTINGS)
            detail["sent"] = sum(d.delivered + d.rejected + d.failed for d in report.destinations)

        seconds["push"] = timed(push)
    return {"seconds": {k: round(v, 3) for k, v in seconds.items()}, "detail": detail}


def median_run(runs: list[dict]) -> dict:
    """Per step, the median of ``runs``' seconds (the first run's detail)."""
    seconds = {step: statistics.median(r["seconds"][step] for r in runs) for step in STEPS}
    return {"seconds": seconds, "detail": runs[0]["detail"],
            "each": [r["seconds"] for r in runs]}  # fmt: skip


def bench(size: int, seed: int, increment: int, late: int, repeats: int, keep: bool) -> dict:
    clock = INCREMENT_DAY + dt.timedelta(days=1, hours=1)
    base_db, empty_db = OUT / f"incremental_{size}.duckdb", OUT / f"incremental_{size}_empty.duckdb"
    snapshot = OUT / f"incremental_{size}_base.duckdb"
    for path in (base_db, empty_db):
        path.unlink(missing_ok=True)
    data = base_file(size, seed)
    with emulated(load_config(CONFIG), clock) as config:
        if keep and snapshot.exists():
            log(f"reusing {snapshot} (--keep; delete it to build it again)")
            shutil.copyfile(snapshot, base_db)
            setup: dict = {"reused": str(snapshot)}
        else:
            log(f"building the {size:,}-event warehouse (not timed)")
            setup = run_steps(base_db, data, config, clock)
            log(f"  set-up: {json.dumps(setup)}")
            shutil.copyfile(base_db, snapshot)
        inc = increment_file(base_db, increment, seed + 1, late)
        full_runs, empty_runs = [], []
        for i in range(repeats):
            if i:  # each round starts from the same built warehouse and an empty one
                shutil.copyfile(snapshot, base_db)
                empty_db.unlink()
            full_runs.append(run_steps(base_db, inc, config, clock))
            log(f"  increment on {size:,} ({i + 1}/{repeats}): {json.dumps(full_runs[-1])}")
            empty_runs.append(run_steps(empty_db, inc, config, clock))
            log(f"  increment on empty ({i + 1}/{repeats}): {json.dumps(empty_runs[-1])}")
    for path in () if keep else (base_db, empty_db, inc, snapshot):
        path.unlink(missing_ok=True)
    return {"size": size, "setup": setup, "full": median_run(full_runs),
            "empty": median_run(empty_runs)}  # fmt: skip


def table(results: list[dict]) -> list[str]:
    lines = [
        "| warehouse | step | increment on it (s) | on an empty one (s) | ratio |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        groups = {"ingest": ("ingest",), "quality + payloads": ("quality", "payloads"),
                  "push": ("push",), "all four": STEPS}  # fmt: skip
        for step in (*STEPS, "quality + payloads", "all four"):
            parts = groups.get(step, (step,))
            on = sum(r["full"]["seconds"][p] for p in parts)
            off = sum(r["empty"]["seconds"][p] for p in parts)
            lines.append(f"| {r['size']:,} events | {step} | {on:.2f} | {off:.2f} | "
                         f"{on / off:.2f}x |")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000",
                        help="warehouse sizes, comma-separated (default 1M and 10M)")  # fmt: skip
    parser.add_argument("--increment", type=int, default=10_000, help="events per increment")
    parser.add_argument(
        "--late", type=int, default=100, help="late purchase copies and resent eventIds"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--repeats", type=int, default=3, help="rounds per size; each step's median is reported"
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the warehouses in out/, and the built one as a snapshot reused next time",
    )
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = [
        bench(size, args.seed, args.increment, args.late, args.repeats, args.keep) for size in sizes
    ]
    lines = table(results)
    (OUT / "incremental.json").write_text(json.dumps(results, indent=2, default=str))
    (OUT / "incremental.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
