"""CRM request counts and time per push: Salesforce and HubSpot, pushed to the
independent platform receiver (tests/receiver.py).

    python benchmarks/crm_requests.py                         # 1,000,000 events
    python benchmarks/crm_requests.py --events 100000 --json out.json
    python benchmarks/crm_requests.py --reuse benchmarks/out/crm_100000_42.duckdb

Without ``--reuse``: seeded wide synthetic events (``trackstack_lab.synthetic``, as
run_all.py makes them; the NDJSON file is kept under benchmarks/out/ and reused) are
ingested into benchmarks/out/crm_<events>_<seed>.duckdb, quality is refreshed and the
Salesforce and HubSpot payload tables are built at the warehouse's replay clock. The push
then runs on a copy of that file (so the built warehouse can be pushed again with
``--reuse``), to a ``Receiver`` on 127.0.0.1, through a temporary config holding the two
destinations' sections of trackstack.toml with ``base_url`` pointed at the receiver and
dummy credentials (set in this process only).

Reported per destination and request kind: payload rows ready, distinct record keys
(``dedup_key``) among them, the fewest requests those keys need at the platform's batch
size, the requests made and the rows they carried, the spread of their arrival, and how
long the platform's pacing would take at the default rate (requests / 20 per s for
Salesforce, / 19 per s for HubSpot).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).parent.parent
OUT = Path(__file__).parent / "out"
CONFIG = ROOT / "trackstack.toml"
DESTINATIONS = ("salesforce", "hubspot")
RECEIVER_KINDS = {
    "salesforce": {"Lead": "lead", "Opportunity": "opportunity", "limits": "limits"},
    "hubspot": {"events": "custom_event", "deals": "deal", "contacts": "contact"},
}
"""The receiver's request kinds (named by the platforms' paths) -> the project's."""
DUMMY_TOKEN = "bench-dummy-token"
SALESFORCE_ORG_DAILY = 100_000
"""A common org-wide daily API request allocation, for scale."""

sys.path.insert(0, str(ROOT / "tests"))
from receiver import Receiver, RecordedRequest  # noqa: E402


def toml_value(value: Any) -> str:
    """A TOML literal for the plain values trackstack.toml uses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML literal for {value!r}")


def toml_table(name: str, table: dict[str, Any]) -> list[str]:
    """``[name]`` with its plain keys, then its sub-tables."""
    lines = [f"[{name}]"]
    lines += [f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for key, sub in table.items():
        if isinstance(sub, dict):
            lines += ["", *toml_table(f"{name}.{key}", sub)]
    return lines


def write_config(path: Path, receiver: Receiver) -> None:
    """The workspace and the two CRM destinations of trackstack.toml, pointed at the
    receiver; credentials are dummy values in this process's environment."""
    source = tomllib.loads(CONFIG.read_text())
    lines = toml_table("workspace", source.get("workspace", {}))
    for name in DESTINATIONS:
        section = {**source["destinations"][name], "base_url": receiver.base_for(name)}
        for key, value in section.items():
            if key.endswith("_env") and isinstance(value, str):
                os.environ[value] = DUMMY_TOKEN
        lines += ["", *toml_table(f"destinations.{name}", section)]
    path.write_text("\n".join(lines) + "\n")


def build_warehouse(db: Path, events: int, seed: int) -> dict[str, float]:
    """Generate (or reuse) the NDJSON, ingest it, refresh quality, build the CRM payloads."""
    import trackstack_wh as tw
    from trackstack_lab.synthetic import SyntheticSpec, write_ndjson

    OUT.mkdir(exist_ok=True)
    data = OUT / f"wide_{events}_{seed}.ndjson"
    timings: dict[str, float] = {}
    started = time.perf_counter()
    if not data.exists():
        write_ndjson(data, SyntheticSpec(n=events, seed=seed, wide=True))
    timings["generate_s"] = time.perf_counter() - started
    for suffix in ("", ".wal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    with tw.connect(db, config=CONFIG) as wh:
        started = time.perf_counter()
        wh.ingest(data)
        timings["ingest_s"] = time.perf_counter() - started
        started = time.perf_counter()
        wh.refresh_quality()
        timings["quality_s"] = time.perf_counter() - started
        started = time.perf_counter()
        wh.build_payloads(as_of=wh.replay_clock(), destinations=list(DESTINATIONS))
        timings["payloads_s"] = time.perf_counter() - started
        wh.conn.execute("checkpoint")
    return {k: round(v, 2) for k, v in timings.items()}


def payload_stats(wh: Any) -> dict[tuple[str, str], dict[str, int]]:
    """Ready rows, distinct record keys and how rows share keys, per (destination, kind)."""
    from trackstack_wh.payloads.spec import PAYLOAD_TABLES

    stats = {}
    for destination in DESTINATIONS:
        rows = wh.conn.execute(
            "select request_kind, sum(n), count(*), max(n), count(*) filter (n > 1) from ("
            "select request_kind, dedup_key, count(*) as n "
            f"from {PAYLOAD_TABLES[destination]} where status = 'ready' group by all"
            ") group by 1 order by 1"
        ).fetchall()
        for kind, ready, keys, busiest, repeated in rows:
            stats[(destination, kind)] = {
                "ready_rows": int(ready),
                "distinct_keys": keys,
                "rows_of_busiest_key": busiest,
                "keys_with_several_rows": repeated,
            }
    return stats


def outcomes(wh: Any) -> dict[tuple[str, str], dict[str, int]]:
    """Final outcome counts per (destination, request kind) from the delivery log."""
    found: dict[tuple[str, str], dict[str, int]] = {}
    rows = wh.conn.execute(
        "select destination, request_kind, outcome, count(*) from delivery_status "
        "where destination in ('salesforce', 'hubspot') group by all order by all"
    ).fetchall()
    for destination, kind, outcome, count in rows:
        found.setdefault((destination, kind), {})[str(outcome)] = count
    return found


def request_stats(requests: list[RecordedRequest]) -> dict[str, Any]:
    """What the receiver saw of one kind of request."""
    arrivals = [r.received_at for r in requests]
    elements = sum(r.elements for r in requests)
    return {
        "requests": len(requests),
        "elements_sent": elements,
        "rows_per_request": round(elements / len(requests), 1) if requests else 0.0,
        "max_rows_in_a_request": max((r.elements for r in requests), default=0),
        "statuses": dict(Counter(str(r.status) for r in requests)),
        "arrival_span_s": round(max(arrivals) - min(arrivals), 2) if arrivals else 0.0,
    }


def push(db: Path, rps: float, concurrency: int) -> dict[str, Any]:
    """Push a copy of ``db``'s CRM rows to a fresh receiver; everything measured."""
    import trackstack_wh as tw
    from trackstack_wh.delivery.settings import REQUESTS_PER_SECOND
    from trackstack_wh.payloads.requests import ENDPOINTS

    with (
        tempfile.TemporaryDirectory(prefix="crm_requests_") as tmp,
        Receiver(keep_bodies=False, salesforce_daily_max=10**12) as receiver,
    ):
        copy = Path(tmp) / "push.duckdb"
        shutil.copyfile(db, copy)
        config = Path(tmp) / "crm.toml"
        write_config(config, receiver)
        with tw.connect(copy, config=config) as wh:
            stats = payload_stats(wh)
            clock = wh.replay_clock()
            started = time.perf_counter()
            report = wh.push(
                list(DESTINATIONS),
                as_of=clock,
                delivery={"requests_per_second": rps, "concurrency": concurrency},
            )
            seconds = time.perf_counter() - started
            logged = outcomes(wh)
        result: dict[str, Any] = {
            "as_of": clock.isoformat(),
            "push_s": round(seconds, 2),
            "destinations": {},
        }
        for dest_report in report.destinations:
            destination = dest_report.destination
            rate = REQUESTS_PER_SECOND[destination]
            by_kind: dict[str, list[RecordedRequest]] = {}
            for request in receiver.requests(destination):
                kind = RECEIVER_KINDS[destination].get(request.kind or "", str(request.kind))
                by_kind.setdefault(kind, []).append(request)
            kinds = {}
            names = sorted({k for d, k in stats if d == destination} | set(by_kind))
            for kind in names:
                endpoint = ENDPOINTS.get((destination, kind))
                keys = stats.get((destination, kind), {}).get("distinct_keys", 0)
                seen = request_stats(by_kind.get(kind, []))
                kinds[kind] = {
                    **stats.get(
                        (destination, kind),
                        {"ready_rows": 0, "distinct_keys": 0, "rows_of_busiest_key": 0},
                    ),
                    "batch_size": endpoint.batch_size if endpoint else None,
                    "fewest_requests": math.ceil(keys / endpoint.batch_size) if endpoint else 0,
                    **seen,
                    "unique_keys_received": len(receiver.unique(destination, _their(kind))),
                    "paced_s_at_default_rate": round(seen["requests"] / rate, 1),
                    "outcomes": logged.get((destination, kind), {}),
                }
            total = sum(k["requests"] for k in kinds.values())
            result["destinations"][destination] = {
                "report": dest_report.to_dict(),
                "default_requests_per_second": rate,
                "requests": total,
                "paced_s_at_default_rate": round(total / rate, 1),
                "kinds": kinds,
            }
        usage = receiver.salesforce_api_usage()
        result["salesforce_api_usage"] = usage
        result["salesforce_share_of_100k_daily"] = round(usage / SALESFORCE_ORG_DAILY, 3)
        result["receiver_errors"] = receiver.errors
    return result


def _their(kind: str) -> str | None:
    """The receiver's name for a project request kind."""
    for mapping in RECEIVER_KINDS.values():
        for theirs, ours in mapping.items():
            if ours == kind:
                return theirs
    return kind


def code_under_test() -> dict[str, str]:
    """Which trackstack_wh was measured (HEAD plus uncommitted changes, or another tree)."""
    import trackstack_wh

    package = Path(trackstack_wh.__file__).parent
    info = {"package": str(package)}
    try:
        head = subprocess.run(
            ["git", "-C", str(package), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(package), "status", "--porcelain", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        info["git_head"] = head
        info["uncommitted_files_in_package"] = str(len(dirty.splitlines()))
    except (OSError, subprocess.CalledProcessError):
        info["git_head"] = "not a git checkout"
    return info


def print_table(result: dict[str, Any]) -> None:
    """A Markdown table of the measurement."""
    print(
        f"\npush {result['push_s']} s at as_of {result['as_of']}; Salesforce api-usage "
        f"{result['salesforce_api_usage']:,} ({result['salesforce_share_of_100k_daily']:.1%} "
        f"of a 100,000/day org)\n"
    )
    print(
        "| destination | kind | ready rows | distinct keys | rows of busiest key "
        "| fewest requests | requests "
        "| rows/request | arrival span s | paced s at default rate | outcomes |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for destination, dest in result["destinations"].items():
        for kind, k in dest["kinds"].items():
            outcome = ", ".join(f"{o} {n:,}" for o, n in k["outcomes"].items())
            print(
                f"| {destination} | {kind} | {k['ready_rows']:,} | {k['distinct_keys']:,} | "
                f"{k.get('rows_of_busiest_key') or 0:,} | "
                f"{k['fewest_requests']:,} | {k['requests']:,} | {k['rows_per_request']} | "
                f"{k['arrival_span_s']} | {k['paced_s_at_default_rate']:,} | {outcome} |"
            )
        report = dest["report"]
        print(
            f"| **{destination}** | all | | | | | **{dest['requests']:,}** | | "
            f"{report['seconds']} | **{dest['paced_s_at_default_rate']:,}** | delivered "
            f"{report['delivered']:,}, rejected {report['rejected']:,}, failed "
            f"{report['failed']:,}, superseded {report.get('superseded', 0):,} |"
        )
        if report.get("halted"):
            print(f"| | halted: {report['halted']} | | | | | | | | | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DB",
        help="a warehouse with built CRM payloads: skip generation",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the result here")
    parser.add_argument(
        "--db",
        type=Path,
        help="where to build the warehouse (default benchmarks/out/crm_<events>_<seed>.duckdb)",
    )
    parser.add_argument("--label", default="", help="a note kept in the JSON (which code)")
    parser.add_argument("--requests-per-second", type=float, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    setup: dict[str, float] = {}
    if args.reuse:
        db = args.reuse
        if not db.exists():
            raise SystemExit(f"{db} does not exist")
    else:
        db = args.db or OUT / f"crm_{args.events}_{args.seed}.duckdb"
        print(f"building {db} from {args.events:,} events ...", file=sys.stderr, flush=True)
        setup = build_warehouse(db, args.events, args.seed)
        print(f"  {setup}", file=sys.stderr, flush=True)
    result = {
        "events": None if args.reuse else args.events,
        "seed": None if args.reuse else args.seed,
        "db": str(db),
        "date": dt.date.today().isoformat(),
        "label": args.label,
        "code": code_under_test(),
        "delivery": {
            "requests_per_second": args.requests_per_second,
            "concurrency": args.concurrency,
        },
        "setup": setup,
        **push(db, args.requests_per_second, args.concurrency),
    }
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        print(f"\nwrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
