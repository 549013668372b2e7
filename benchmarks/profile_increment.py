"""Where an incremental quality refresh spends its time, statement by statement.

    python benchmarks/profile_increment.py out/incremental_10000000_base.duckdb \\
        out/increment_10000_43_incremental_10000000.ndjson

Copies the warehouse (a snapshot ``benchmarks/incremental.py --keep`` left), ingests the
increment, then runs ``refresh_quality()`` with every statement timed; prints the
slowest, with the rows of each temp table a statement created.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import duckdb  # noqa: E402

import trackstack_wh as tw  # noqa: E402
from trackstack_wh.config import load_config  # noqa: E402
from trackstack_wh.enrich import phone_region_from_env, refresh_quality  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CREATED = re.compile(r"\s*create or replace (?:temp )?table (\w+)", re.IGNORECASE)


class TimedConnection:
    """A DuckDB connection whose ``execute`` calls are timed (everything else passes)."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self._conn = conn
        self.statements: list[tuple[float, str, str]] = []

    def execute(self, query: str, parameters: Any = None) -> duckdb.DuckDBPyConnection:
        started = time.perf_counter()
        result = self._conn.execute(query, parameters)
        seconds = time.perf_counter() - started
        created = CREATED.match(query)
        rows = ""
        if created:
            rows = str(
                self._conn.execute(f"select count(*) from {created.group(1)}").fetchall()[0][0]
            )
        self.statements.append((seconds, rows, " ".join(query.split())))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warehouse", type=Path, help="a built warehouse (left unchanged)")
    parser.add_argument("increment", type=Path, help="an NDJSON file of new events")
    parser.add_argument("--top", type=int, default=20, help="how many statements to print")
    args = parser.parse_args()
    work = args.warehouse.with_name(args.warehouse.stem + "_profiled.duckdb")
    shutil.copyfile(args.warehouse, work)
    config = load_config(ROOT / "trackstack.toml")
    try:
        with tw.connect(work, config=config) as wh:
            wh.ingest(args.increment)
        with tw.connect(work, config=config) as wh:
            timed = TimedConnection(wh.conn)
            started = time.perf_counter()
            run = refresh_quality(
                timed,  # type: ignore[arg-type]
                phone_region=phone_region_from_env(config.phone_region),
                stitching=config.stitching,
            )
            total = time.perf_counter() - started
        print(f"refresh_quality: {run.mode}, {total:.2f} s, {len(timed.statements)} statements")
        for seconds, rows, query in sorted(timed.statements, reverse=True)[: args.top]:
            print(f"{seconds:7.3f} s  {rows:>9}  {query[:110]}")
    finally:
        work.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
