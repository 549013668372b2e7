"""``trackstack-wh report``: the funnel, conversion funnel, quality and delivery reports
for scripts (table, CSV, JSON) and as one static HTML file."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trackstack_wh.cli_delivery import parse_time
from trackstack_wh.db import resolve_path
from trackstack_wh.errors import UsageError
from trackstack_wh.reports import BREAKDOWNS, PERIODS, Report
from trackstack_wh.warehouse import Warehouse, connect

FORMATS = ("table", "csv", "json")
KINDS = ("funnel", "conversion", "quality", "delivery")


def add_report_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    report = sub.add_parser(
        "report",
        help="funnel, conversion funnel, quality or delivery report (table, CSV, JSON) or a "
        "static HTML report",
        description="Print one report, or write all three as one HTML file with --html.",
    )
    report.add_argument("kind", nargs="?", choices=KINDS, help="which report to print")
    report.add_argument(
        "--format", choices=FORMATS, default="table", help="how to print it (default: table)"
    )
    report.add_argument(
        "--table", help="one table of the report (CSV prints the main one by default)"
    )
    report.add_argument("--period", choices=PERIODS, default="week", help="funnel period")
    report.add_argument(
        "--by",
        help=f"split the funnel by this ({', '.join(BREAKDOWNS)}; conversion also: company, "
        "click_source or an events column)",
    )
    report.add_argument(
        "--steps",
        help="conversion steps, comma-separated: stages, event names or filtered events, "
        "e.g. 'PricingInteraction,DemoBooked,Purchase where value > 100' (default: the five "
        "funnel stages)",
    )
    report.add_argument(
        "--window", default="30d", help="conversion window from the first step (default 30d)"
    )
    report.add_argument(
        "--order",
        choices=("strict", "any"),
        default="strict",
        help="conversion steps in order (strict, default) or in any order",
    )
    report.add_argument("--since", help="conversion: only events at or after this ISO date/time")
    report.add_argument("--until", help="conversion: only events before this ISO date/time")
    report.add_argument("--mode", default="live", help="delivery mode: live, test or validate")
    report.add_argument(
        "--target",
        default="live",
        help="whose deliveries the delivery report counts: live, emulator or a push's URL",
    )
    report.add_argument(
        "--landing",
        type=Path,
        metavar="DIR",
        help="the sink's landing directory: `report delivery` also shows the events "
        "waiting there for ingest and counts them in its freshness verdicts",
    )
    report.add_argument(
        "--with-warnings",
        action="store_true",
        help="`report delivery`: lead with the rows delivered with warnings (the event's "
        "quality score and warnings when sent; table with_warnings)",
    )
    report.add_argument("--html", metavar="PATH", help="write the HTML report to PATH")
    report.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    report.set_defaults(func=cmd_report)


def build_report(wh: Warehouse, args: argparse.Namespace) -> Report:
    if args.kind == "funnel":
        return wh.funnel(args.period, args.by)
    if args.kind == "conversion":
        return wh.conversion_funnel(
            args.steps, window=args.window, by=args.by, since=parse_time(args.since),
            until=parse_time(args.until), order=args.order,
        )  # fmt: skip
    if args.kind == "quality":
        return wh.quality_report()
    return wh.delivery_report(
        mode=args.mode, target=args.target, landing=args.landing, with_warnings=args.with_warnings
    )


def cmd_report(args: argparse.Namespace) -> int:
    if args.kind is None and args.html is None:
        raise UsageError(
            "name a report (funnel, conversion, quality, delivery) or give --html PATH"
        )
    path = resolve_path(args.db)
    if not path.is_file():
        raise UsageError(f"no warehouse at {path}; run `trackstack-wh demo` or `ingest` first")
    with connect(path, config=args.config, read_only=True) as wh:
        _write(wh, args)
    return 0


def _write(wh: Warehouse, args: argparse.Namespace) -> None:
    if args.html is not None:
        written = wh.write_html_report(
            args.html, period=args.period, mode=args.mode, target=args.target, landing=args.landing
        )
        print(f"HTML report: {written.resolve()}", file=sys.stderr if args.kind else sys.stdout)
    if args.kind is None:
        return
    report = build_report(wh, args)
    if args.format == "csv":
        sys.stdout.write(report.to_csv(args.table))
    elif args.format == "json":
        print(report.to_json())
    else:
        print(report.to_text(args.table))
