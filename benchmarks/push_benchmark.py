"""Push throughput: ready Meta payload rows through the delivery engine to the platform
emulator (a separate process on loopback), with the delivery log written as it goes.

    python benchmarks/push_benchmark.py --events 1000000
    python benchmarks/push_benchmark.py --events 100000 300000 1000000   # memory vs volume

For each size, a warehouse is made with that many ready ``capi_meta`` rows (realistic
payloads: six SHA-256 match keys, IP, user agent, custom data; built in SQL), then a
fresh Python process pushes them all (with ``TRACKSTACK_MEMORY_LIMIT=256MB``, so DuckDB's
page cache does not grow with the table). Reported: wall time of the push, events/s, the
pushing process's peak RSS (wait4) and the emulator's RSS at the end, and a check that
the emulator holds every event exactly once.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
CLOCK = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)

MAKE = """
create or replace table capi_meta as
select
    printf('bench-%010d', i) as event_id, 'meta' as destination, 'event' as request_kind,
    'Purchase' as platform_event_name, printf('Purchase:bench-%010d', i) as dedup_key,
    to_timestamp($clock_s - 60 - (i % 86400)) as event_time, 'ready' as status,
    null::varchar as skip_reason, null::varchar as duplicate_of, []::varchar[] as warnings,
    json_object(
        'event_name', 'Purchase',
        'event_time', ($clock_s - 60 - (i % 86400))::bigint,
        'event_id', printf('bench-%010d', i),
        'action_source', 'website',
        'event_source_url', 'https://app.example.com/checkout',
        'user_data', json_object(
            'em', [sha256('user' || i || '@example.com')],
            'ph', [sha256('1555' || lpad((i % 10000000)::varchar, 7, '0'))],
            'fn', [sha256('first' || (i % 5000))], 'ln', [sha256('last' || (i % 7000))],
            'country', [sha256('us')], 'external_id', [sha256('ext-' || i)],
            'client_ip_address', '203.0.113.' || (i % 250),
            'client_user_agent', 'Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0 Safari/537.36'),
        'custom_data', json_object('value', 99.0, 'currency', 'USD',
                                   'order_id', printf('txn_%010d', i))
    ) as payload,
    'bench' as settings_hash, to_timestamp($clock_s) as built_at
from range($n) t(i)
"""

PUSH = """
import json, sys, time, datetime as dt
import trackstack_wh as tw
from trackstack_wh.config import parse_config
config = parse_config({"destinations": {"meta": {
    "enabled": True, "pixel_id": "1000", "access_token_env": "BENCH_META_TOKEN",
    "base_url": sys.argv[2] + "/meta",
    "delivery": {"requests_per_second": 10000, "concurrency": 4}}}})
with tw.connect(sys.argv[1], config=config) as wh:
    started = time.perf_counter()
    report = wh.push("meta", as_of=dt.datetime.fromisoformat(sys.argv[3]))
    seconds = time.perf_counter() - started
print(json.dumps({"seconds": round(seconds, 2), **report["meta"].to_dict()}))
"""


def make_warehouse(path: Path, events: int) -> None:
    import trackstack_wh as tw

    path.unlink(missing_ok=True)
    with tw.connect(path) as wh:
        wh.conn.execute(MAKE, {"n": events, "clock_s": CLOCK.timestamp()})
        wh.conn.execute("checkpoint")  # else the next open replays the WAL (a 1 GB spike)


def push(db: Path, base_url: str) -> tuple[dict, float]:
    """(report, peak RSS MiB) of a push in a fresh interpreter."""
    env = {**os.environ, "BENCH_META_TOKEN": "bench-token", "TRACKSTACK_MEMORY_LIMIT": "256MB"}
    proc = subprocess.Popen(
        [sys.executable, "-c", PUSH, str(db), base_url, CLOCK.isoformat()],
        stdout=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"push failed ({status}): {out}")
    return json.loads(out.strip().splitlines()[-1]), usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--make", nargs=2, metavar=("DB", "EVENTS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        make_warehouse(Path(args.make[0]), int(args.make[1]))
        return
    import psutil

    from trackstack_lab.emulator import EmulatorProcess

    OUT.mkdir(exist_ok=True)
    rows = []
    for events in args.events:
        db = OUT / f"push_{events}.duckdb"
        started = time.perf_counter()
        # In a child process: Linux carries a parent's peak RSS into the children it forks,
        # so a parent that built the table itself would inflate the push's figure.
        subprocess.run([sys.executable, __file__, "--make", str(db), str(events)], check=True)
        made = time.perf_counter() - started
        with EmulatorProcess(clock=CLOCK + dt.timedelta(minutes=5)) as emu:
            report, rss = push(db, emu.base_url)
            stats = emu.stats()["meta"]
            emulator_rss = sum(c.memory_info().rss for c in psutil.Process().children()) / 2**20
        exact = stats["unique"] == events == report["delivered"] and stats["duplicates"] == 0
        rows.append(
            {
                "events": events,
                "push_s": report["seconds"],
                "events_per_s": round(events / report["seconds"]),
                "requests": report["requests"],
                "peak_rss_mib": round(rss),
                "emulator_rss_mib": round(emulator_rss),
                "exactly_once": exact,
                "setup_s": round(made, 1),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        db.unlink(missing_ok=True)
    print(
        "\n| events | push s | events/s | requests | peak RSS MiB | emulator RSS MiB "
        "| exactly once |"
    )
    print("|---:|---:|---:|---:|---:|---:|:---:|")
    for r in rows:
        print(
            f"| {r['events']:,} | {r['push_s']} | {r['events_per_s']:,} | {r['requests']:,} | "
            f"{r['peak_rss_mib']:,} | {r['emulator_rss_mib']:,} | {r['exactly_once']} |"
        )


if __name__ == "__main__":
    main()
