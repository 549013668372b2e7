"""``trackstack-wh run``: the whole chain once, for cron (ingest what is new, refresh
quality, build payloads, push), then a one-screen summary or ``--json``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from trackstack_wh.cli_delivery import parse_time
from trackstack_wh.errors import UsageError
from trackstack_wh.operate import inbox_path, landing_path
from trackstack_wh.warehouse import connect

HELP = "the whole chain once (for cron): ingest, quality, payloads, push, then a summary"
EPILOG = (
    "exit codes: 0 ok; 1 a destination halted, rows failed (they are retried by a later "
    "run) or an inbox file is unreadable; 2 bad usage or configuration; 3 the warehouse is "
    "busy (another run holds it: run again later)."
)


def cmd_run(args: argparse.Namespace) -> int:
    inbox = _folder(args.inbox, inbox_path(args.inbox), "--inbox")
    landing = _folder(args.landing, landing_path(args.landing), "--landing")
    with connect(args.db, config=args.config) as wh:
        summary = wh.run(
            inbox=inbox,
            landing=landing,
            dry_run=args.dry_run,
            rebuild=args.rebuild,
            emulator=args.emulator,
            as_of=parse_time(args.as_of),
        )
    if args.json:
        print(json.dumps(summary.to_dict(), indent=2, default=str))
    else:
        print("\n".join(summary.lines()))
    return 0 if summary.ok else 1


def _folder(given: str | None, resolved: Path, option: str) -> Path:
    """A folder named on the command line must exist (a default one may not: noted)."""
    if given is not None and not resolved.is_dir():
        raise UsageError(f"{option} {given}: no such folder")
    return resolved


def add_run_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    run = sub.add_parser("run", help=HELP, description=HELP + ".", epilog=EPILOG)
    run.add_argument(
        "--inbox", help="folder of event files to ingest (default: $TRACKSTACK_INBOX or data/inbox)"
    )
    run.add_argument(
        "--landing",
        help="the HTTP sink's landing folder (default: $TRACKSTACK_LANDING or data/landing)",
    )
    run.add_argument(
        "--rebuild", action="store_true", help="rebuild quality and every payload row in full"
    )
    run.add_argument("--dry-run", action="store_true", help="send nothing; say what would be sent")
    run.add_argument(
        "--emulator",
        action="store_true",
        help="push to a local platform emulator started for the run (like push --emulator)",
    )
    run.add_argument(
        "--as-of",
        help="clock for the platforms' age limits (default: now; with --emulator, the newest "
        "event + 1 h)",
    )
    run.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    run.add_argument("--json", action="store_true", help="machine-readable summary")
    run.set_defaults(func=cmd_run)
