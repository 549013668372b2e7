"""The ``trackstack-wh`` command line.

``main`` turns a ``TrackstackError`` into one ``error: ...`` line on stderr and an exit
code (``errors.exit_code``), an unexpected exception into one ``internal error: ...``
line (``--debug`` prints the traceback instead), Ctrl-C into exit 130 and a closed
stdout (``trackstack-wh report funnel | head -1``) into a quiet exit 141. It logs the
library's warnings to stderr (``-v``: also what it does; ``--debug``: everything).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from trackstack_wh.cli_delivery import add_commands, parse_time
from trackstack_wh.cli_doctor import add_doctor_command
from trackstack_wh.cli_quarantine import add_quarantine_command
from trackstack_wh.cli_report import add_report_command
from trackstack_wh.cli_run import add_run_command
from trackstack_wh.cli_summaries import nothing_routed, open_segments_note, payload_overview
from trackstack_wh.cli_trace import add_trace_command
from trackstack_wh.demo import print_json, print_summary, run_demo
from trackstack_wh.enrich import phone_region_from_env
from trackstack_wh.errors import TrackstackError, UsageError, exit_code
from trackstack_wh.ingest.report import IngestReport
from trackstack_wh.payloads import PAYLOAD_TABLES
from trackstack_wh.payloads.versions import describe_versions, sunset_problems
from trackstack_wh.quality import SUMMARY_GROUPS
from trackstack_wh.sink.cli import add_arguments as add_sink_arguments
from trackstack_wh.sink.cli import run as run_sink
from trackstack_wh.warehouse import Warehouse, connect

SAMPLES = Path("data") / "samples"
DESCRIPTION = (
    "Load TrackStack conversion events into a DuckDB warehouse, score their quality, "
    "build and push each ad platform's and CRM's payloads, and report on all of it."
)
EPILOG = (
    "exit codes: 0 ok; 1 the run failed or found problems (unreadable files, failed "
    "deliveries, events not accounted for); 2 bad usage or configuration, or a step to "
    "run first; 3 the warehouse file is busy; 70 internal error (a bug); 130 interrupted; "
    "141 stdout closed early (e.g. piped into head). Each command has --help; README.md "
    "explains them (sections 'Command line', 'Reports', 'Quarantine workbench', "
    "'Destinations and payloads', 'Delivery', 'HTTP sink', 'Always-on operation', "
    "'Orchestration with Dagster')."
)
EXIT_INTERNAL = 70
"""An unexpected exception: a bug (sysexits' EX_SOFTWARE)."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT, as a shell reports it)."""
EXIT_BROKEN_PIPE = 141
"""The reader of stdout went away (128 + SIGPIPE, what ``cat`` gives in ``cat | head``)."""
LOGGERS = ("trackstack_wh", "trackstack_lab")
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def _print_report(report: IngestReport, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report.to_dict(), indent=2, default=str))
        return
    print(repr(report))
    for f in report.files:
        if f.failed:
            print(f"error: {f.path}: {f.status}: {f.error}", file=sys.stderr)


def _connect(args: argparse.Namespace) -> Warehouse:
    return connect(args.db, config=args.config)


def cmd_ingest(args: argparse.Namespace) -> int:
    if not args.paths and args.landing is None:
        raise UsageError("give files or directories to ingest, or --landing DIR")
    with _connect(args) as wh:
        report = wh.ingest(args.paths) if args.paths else IngestReport([])
        if args.landing is not None:
            report = IngestReport(report.files + wh.ingest_landing(args.landing).files)
        settings = wh.config.sink
    _print_report(report, args.json)
    if args.landing is not None:
        note = open_segments_note(args.landing, settings)
        if note:
            print(note, file=sys.stderr)
    return 0 if report.ok else 1


def cmd_serve(args: argparse.Namespace) -> int:
    return run_sink(args, args.config)


def cmd_demo(args: argparse.Namespace) -> int:
    samples = Path(args.samples)
    if not samples.is_dir():
        raise UsageError(f"{samples} not found; run from the repository root or pass --samples")
    with _connect(args) as wh:
        report_path = None
        if not args.no_report:
            report_path = Path(args.html) if args.html else default_report_path(wh.path)
        result = run_demo(wh, samples, push=not args.no_push, report_path=report_path)
    if args.json:
        print_json(result)
    else:
        print_summary(result)
    return 0 if result.ok else 1


def default_report_path(db_path: Path) -> Path:
    """``data/warehouse.duckdb`` -> ``data/warehouse_report.html``."""
    return db_path.with_name(f"{db_path.stem}_report.html")


def _print_summary(frame: pl.DataFrame, title: str) -> None:
    print(f"\n{title}:")
    with pl.Config(
        tbl_rows=100,
        tbl_cols=20,
        tbl_hide_dataframe_shape=True,
        tbl_width_chars=160,
        fmt_str_lengths=90,
    ):
        print(frame)


def cmd_quality(args: argparse.Namespace) -> int:
    with _connect(args) as wh:
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


def cmd_payloads(args: argparse.Namespace) -> int:
    if args.preview and not args.destination:
        raise UsageError("--preview needs --destination")
    as_of = parse_time(args.as_of)
    with _connect(args) as wh:
        results = wh.build_payloads(as_of=as_of, rebuild=args.rebuild)
        summary = wh.payload_summary()
        if args.destination:
            summary = summary.filter(pl.col("destination") == args.destination)
        if args.json:
            print(json.dumps({"summary": summary.to_dicts()}, indent=2, default=str))
        elif not results:
            print("no destination is enabled: see README 'Destinations' for trackstack.toml")
        else:
            for r in results:
                if args.destination in (None, r.destination):
                    print(
                        f"{r.destination:<11} +{r.inserted} rows ({r.rebuilt} rebuilt) "
                        f"in {r.seconds:.2f}s"
                    )
            _print_summary(payload_overview(summary), "payloads by destination")
            if args.destination:
                _print_summary(summary, f"{args.destination} by kind, status and reason")
            warning = nothing_routed(summary)
            if warning:
                print(f"\n{warning}", file=sys.stderr)
        if args.preview:
            dest = wh.config.destinations[args.destination]
            today = dt.datetime.now(dt.UTC).date()
            print(f"\n{args.destination} {describe_versions(dest, today)}")
            problems = sunset_problems(dest, today)
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            if problems:
                return 2
            for request in wh.preview(args.destination, limit=args.preview):
                print(f"\n{request.method} {request.url}")
                for name, value in request.headers.items():
                    print(f"{name}: {value}")
                print(json.dumps(request.body, indent=2)[:4000])
                for event_id, changes in request.overrides.items():
                    for c in changes:
                        print(f"override {event_id}: {c['field']} = {json.dumps(c['value'])} "
                              f"(platformParams.{c['param']})")  # fmt: skip
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trackstack-wh", description=DESCRIPTION, epilog=EPILOG)
    add_log_options(parser, False)
    parser.add_argument(
        "--db", help="warehouse file (default: $TRACKSTACK_DB or data/warehouse.duckdb)"
    )
    parser.add_argument(
        "--config", help="workspace config (default: $TRACKSTACK_CONFIG or ./trackstack.toml)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ingest = sub.add_parser("ingest", help="load event files into the warehouse")
    ingest.add_argument("paths", nargs="*", help="files or directories")
    ingest.add_argument(
        "--landing",
        type=Path,
        help="also load the HTTP sink's closed segments from this directory, exactly once",
    )
    ingest.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    ingest.add_argument("--json", action="store_true", help="machine-readable accounting")
    ingest.set_defaults(func=cmd_ingest)
    demo = sub.add_parser("demo", help="run the pipeline on the committed sample data")
    demo.add_argument("--samples", default=str(SAMPLES), help="sample folder")
    demo.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    demo.add_argument("--json", action="store_true", help="machine-readable accounting")
    demo.add_argument(
        "--no-push", action="store_true", help="stop after the payloads (no emulator, no push)"
    )
    demo.add_argument(
        "--html", help="where to write the HTML report (default: beside the warehouse file)"
    )
    demo.add_argument("--no-report", action="store_true", help="skip the HTML report")
    demo.set_defaults(func=cmd_demo)
    quality = sub.add_parser("quality", help="score events and summarize their quality")
    quality.add_argument(
        "--by", choices=SUMMARY_GROUPS, default="stage", help="one row per this (default: stage)"
    )
    quality.add_argument(
        "--phone-region",
        default=phone_region_from_env() or "none",
        help="country for phones without a country code (default $TRACKSTACK_PHONE_REGION "
        "or US; 'none' reads their digits as international)",
    )
    quality.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    quality.add_argument("--json", action="store_true", help="machine-readable summary")
    quality.set_defaults(func=cmd_quality)
    payloads = sub.add_parser(
        "payloads", help="build per-destination payload tables and summarize them"
    )
    payloads.add_argument(
        "--destination",
        choices=sorted(PAYLOAD_TABLES),
        help="only this destination in the summary; --preview needs it",
    )
    payloads.add_argument(
        "--as-of", help="judge event ages at this ISO time (default: now), e.g. 2026-10-28T12:00"
    )
    payloads.add_argument("--rebuild", action="store_true", help="rebuild every row")
    payloads.add_argument(
        "--preview",
        type=int,
        metavar="N",
        help="print the API versions and the HTTP requests for up to N ready rows of "
        "--destination (not sent); refused while a version is sunset",
    )
    payloads.add_argument("--json", action="store_true", help="machine-readable summary")
    payloads.set_defaults(func=cmd_payloads)
    add_commands(sub)
    add_report_command(sub)
    add_run_command(sub)
    add_quarantine_command(sub)
    add_doctor_command(sub)
    add_trace_command(sub)
    serve = sub.add_parser("serve", help="serve the HTTP event sink (POST /events)")
    add_sink_arguments(serve)
    serve.set_defaults(func=cmd_serve)
    for command in sub.choices.values():
        add_log_options(command, argparse.SUPPRESS)
    return parser


def add_log_options(parser: argparse.ArgumentParser, default: object) -> None:
    """``-v`` and ``--debug``, on the program and (``default=SUPPRESS``, so they do not
    reset the program's) on each command: both ``trackstack-wh -v push`` and
    ``trackstack-wh push -v`` work."""
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=default,
        help="also log what it does (INFO); warnings are always shown",
    )  # fmt: skip
    parser.add_argument(
        "--debug", action="store_true", default=default,
        help="log everything (DEBUG) and show the traceback of an error",
    )  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; returns its exit code (see ``EPILOG``)."""
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.debug else logging.INFO if args.verbose else logging.WARNING
    with log_to_stderr(level):
        try:
            code = int(args.func(args))
            sys.stdout.flush()  # a closed pipe shows here, not at exit
            return code
        except KeyboardInterrupt:
            return EXIT_INTERRUPTED
        except BrokenPipeError:
            _discard_stdout()
            return EXIT_BROKEN_PIPE
        except TrackstackError as exc:
            return _fail(f"error: {exc}", exit_code(exc), args.debug)
        except Exception as exc:
            what = f"internal error: {type(exc).__name__}: {exc}"
            return _fail(f"{what} (run with --debug for the traceback)", EXIT_INTERNAL, args.debug)


def _fail(line: str, code: int, debug: bool) -> int:
    if debug:
        traceback.print_exc()
    else:
        print(line, file=sys.stderr)
    return code


def _discard_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush of what is still
    buffered does not fail again (the Python docs' recipe, see "Note on SIGPIPE" in the
    ``signal`` module)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # stdout is not a file (replaced, or closed)
        pass


@contextmanager
def log_to_stderr(level: int) -> Iterator[None]:
    """Send the package's log records at ``level`` and above to stderr while a command
    runs (undone afterwards, for callers of ``main`` in the same process)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    loggers = [logging.getLogger(name) for name in LOGGERS]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(level)
    try:
        yield
    finally:
        for logger, level_before in zip(loggers, previous, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level_before)


if __name__ == "__main__":
    sys.exit(main())
