"""Sustained throughput of the HTTP sink with fsync'd acknowledgements, on loopback.

    python benchmarks/sink_benchmark.py [--seconds 30] [--concurrency 32] [--warmup 3]

Starts the sink (one uvicorn process, landing on the local disk under benchmarks/out/),
then a load generator in a second process: keep-alive HTTP/1.1 connections, each sending
POST /events with 100 synthetic events (flat, nested and seed 002 shapes; seeded) and
waiting for the answer. Only requests that complete inside the measured window count.
Afterwards the sink is stopped gracefully and every landed batch header is counted, so the
events on disk must equal the events acknowledged. Prints one JSON line of results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

import httpx
import orjson

from trackstack_lab.sink_process import SinkProcess
from trackstack_lab.synthetic import SyntheticSpec, generate_lines
from trackstack_wh.sink.segments import HEADER_KEY, HEADER_PREFIX

OUT = Path(__file__).parent / "out"
KEY = "sk_bench_0123456789abcdef0123"
BATCH = 100
BODIES = 200
CONFIG = """
[sink]
max_body_bytes = 4194304
segment_max_bytes = 268435456
segment_max_age_seconds = 60

[projects.bench]
secret_key_env = "TS_BENCH_KEY"
"""


def request_bodies() -> list[bytes]:
    """``BODIES`` distinct batches of ``BATCH`` clean synthetic events."""
    lines = generate_lines(SyntheticSpec(n=BATCH * BODIES, malformed_rate=0.0, seed=11))
    texts = [line.encode() for line in lines.to_list()]
    return [
        b'{"events":[' + b",".join(texts[i : i + BATCH]) + b"]}"
        for i in range(0, BATCH * BODIES, BATCH)
    ][:BODIES]


def _request(host: str, port: int, body: bytes) -> bytes:
    head = (
        f"POST /events HTTP/1.1\r\nhost: {host}:{port}\r\ncontent-type: application/json\r\n"
        f"x-ts-key: {KEY}\r\nx-sdk-version: bench/1\r\ncontent-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _connection(
    host: str, port: int, requests: list[bytes], offset: int, window: tuple[float, float],
    stats: dict[str, list[float] | dict[int, int]],
) -> None:  # fmt: skip
    reader, writer = await asyncio.open_connection(host, port)
    start, end = window
    latencies: list[float] = stats["latencies"]  # type: ignore[assignment]
    statuses: dict[int, int] = stats["statuses"]  # type: ignore[assignment]
    i = offset
    try:
        while True:
            sent = time.perf_counter()
            if sent >= end:
                return
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            done = time.perf_counter()
            status = int(head[9:12])
            if done <= end:
                statuses[-status if sent < start else status] = (
                    statuses.get(-status if sent < start else status, 0) + 1
                )
                if sent >= start:
                    latencies.append(done - sent)
    finally:
        writer.close()


def load(url: str, bodies: list[bytes], concurrency: int, warmup: float, seconds: float,
         out: mp.Queue) -> None:  # fmt: skip
    """The load generator process: results go to ``out``."""
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    host, port = url.split("//")[1].split(":")
    requests = [_request(host, int(port), b) for b in bodies]
    stats: dict[str, list[float] | dict[int, int]] = {"latencies": [], "statuses": {}}
    cpu = time.process_time()

    async def main() -> None:
        start = time.perf_counter() + warmup
        window = (start, start + seconds)
        await asyncio.gather(
            *(_connection(host, int(port), requests, i * 7, window, stats)
              for i in range(concurrency))
        )  # fmt: skip

    asyncio.run(main())
    out.put({**stats, "client_cpu_s": time.process_time() - cpu})


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _metric(base_url: str, name: str) -> float:
    for line in httpx.get(f"{base_url}/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return 0.0


def landed_events(landing: Path) -> tuple[int, int]:
    """(batches, events) announced by the batch headers of every segment."""
    batches = events = 0
    for path in landing.rglob("*.landing.ndjson"):
        with open(path, "rb") as fh:
            for line in fh:
                if line.startswith(HEADER_PREFIX):
                    batches += 1
                    events += orjson.loads(line)[HEADER_KEY]["events"]
    return batches, events


def run(seconds: float, concurrency: int, warmup: float) -> dict[str, object]:
    bodies = request_bodies()
    root = OUT / "sink_bench"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    config = root / "bench.toml"
    config.write_text(CONFIG)
    with SinkProcess(root / "landing", config, env={"TS_BENCH_KEY": KEY}) as sink:
        results: mp.Queue = mp.Queue()
        client = mp.Process(target=load, args=(sink.base_url, bodies, concurrency, warmup,
                                               seconds, results))  # fmt: skip
        client.start()
        time.sleep(warmup)
        cpu_before, commits_before = (
            _cpu_seconds(sink.pid),
            _metric(sink.base_url, "ts_sink_landing_commits_total"),
        )
        time.sleep(seconds)
        cpu_after, commits_after = (
            _cpu_seconds(sink.pid),
            _metric(sink.base_url, "ts_sink_landing_commits_total"),
        )
        stats = results.get(timeout=seconds + 60)
        client.join()
    statuses = stats["statuses"]
    ok = statuses.get(202, 0)
    acked_all = ok + statuses.get(-202, 0)
    batches, on_disk = landed_events(root / "landing")
    latencies = sorted(stats["latencies"])
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0] * 99
    result = {
        "seconds": seconds,
        "concurrency": concurrency,
        "batch_events": BATCH,
        "body_kib_avg": round(sum(map(len, bodies)) / len(bodies) / 1024, 1),
        "requests_per_s": round(ok / seconds),
        "events_per_s": round(ok * BATCH / seconds),
        "p50_ms": round(quantiles[49] * 1000, 2),
        "p99_ms": round(quantiles[98] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0,
        "non_202": {str(k): v for k, v in statuses.items() if abs(k) != 202},
        "server_cpu_per_request_us": round((cpu_after - cpu_before) / max(ok, 1) * 1e6),
        "server_cpu_share": round((cpu_after - cpu_before) / seconds, 2),
        "client_cpu_s": round(stats["client_cpu_s"], 1),
        "fsyncs_per_s": round((commits_after - commits_before) / seconds),
        "acknowledged_events": acked_all * BATCH,
        "landed_batches": batches,
        "landed_events": on_disk,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
    }
    shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3.0)
    args = parser.parse_args()
    if not 1 <= args.seconds <= 120:
        parser.error("--seconds must be between 1 and 120 (the run is bounded)")
    result = run(args.seconds, args.concurrency, args.warmup)
    print(json.dumps(result))
    return 0 if result["landed_events"] >= result["acknowledged_events"] else 1


if __name__ == "__main__":
    sys.exit(main())
