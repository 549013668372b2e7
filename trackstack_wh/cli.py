"""The ``trackstack-wh`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from trackstack_wh.ingest.report import IngestReport
from trackstack_wh.warehouse import connect

SAMPLES = Path("data") / "samples"


def _print_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    print(repr(report))
    for f in report.files:
        if f.status == "unreadable":
            print(f"error: {f.path}: {f.error}", file=sys.stderr)


def cmd_ingest(args: argparse.Namespace) -> int:
    with connect(args.db) as wh:
        report = wh.ingest(args.paths)
    _print_report(report, args.json)
    return 0 if report.ok else 1


def cmd_demo(args: argparse.Namespace) -> int:
    samples = Path(args.samples)
    if not samples.is_dir():
        print(f"error: {samples} not found; run from the repository root", file=sys.stderr)
        return 2
    with connect(args.db) as wh:
        print(f"warehouse: {wh.path}")
        report = wh.ingest(samples)
        _print_report(report, args.json)
        counts = wh.sql(
            "select stage, count(*)::bigint as events from events "
            "group by stage order by events desc"
        )
        if not args.json:
            print("\nevents by stage:")
            for row in counts.iter_rows():
                print(f"  {row[0]:<12} {row[1]:>7}")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trackstack-wh", description=__doc__)
    parser.add_argument(
        "--db", help="warehouse file (default: $TRACKSTACK_DB or data/warehouse.duckdb)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="load event files into the warehouse")
    ingest.add_argument("paths", nargs="+", help="files or directories")
    ingest.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    ingest.add_argument("--json", action="store_true", help="machine-readable accounting")
    ingest.set_defaults(func=cmd_ingest)
    demo = sub.add_parser("demo", help="run the pipeline on the committed sample data")
    demo.add_argument("--samples", default=str(SAMPLES), help="sample folder")
    demo.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    demo.add_argument("--json", action="store_true", help="machine-readable accounting")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
