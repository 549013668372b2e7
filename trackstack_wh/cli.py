"""The ``trackstack-wh`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from trackstack_wh.enrich import phone_region_from_env
from trackstack_wh.ingest.report import IngestReport
from trackstack_wh.quality import SUMMARY_GROUPS
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
            wh.refresh_quality()
            _print_summary(wh.quality_summary(by="destination"), "quality by destination")
    return 0 if report.ok else 1


def _print_summary(frame: pl.DataFrame, title: str) -> None:
    print(f"\n{title}:")
    with pl.Config(tbl_rows=100, tbl_cols=20, tbl_hide_dataframe_shape=True, tbl_width_chars=140):
        print(frame)


def cmd_quality(args: argparse.Namespace) -> int:
    with connect(args.db) as wh:
        region = None if args.phone_region.lower() == "none" else args.phone_region.upper()
        run = wh.refresh_quality(phone_region=region)
        summary = wh.quality_summary(by=args.by)
    if args.json:
        print(
            json.dumps(
                {"ran": run.ran, "seconds": round(run.seconds, 3), "summary": summary.to_dicts()},
                indent=2,
                default=str,
            )
        )
    else:
        state = f"rebuilt in {run.seconds:.2f}s" if run.ran else "up to date"
        _print_summary(summary, f"quality by {args.by} ({run.events} events, {state})")
    return 0


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
    quality = sub.add_parser("quality", help="score events and summarize their quality")
    quality.add_argument("--by", choices=SUMMARY_GROUPS, default="stage")
    quality.add_argument(
        "--phone-region",
        default=phone_region_from_env() or "none",
        help="country for phones without a country code (default $TRACKSTACK_PHONE_REGION "
        "or US; 'none' reads their digits as international)",
    )
    quality.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    quality.add_argument("--json", action="store_true", help="machine-readable summary")
    quality.set_defaults(func=cmd_quality)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
