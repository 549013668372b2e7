"""``trackstack-wh doctor``: the TrackStack setup checklist judged from the config, the
environment and the data, as a table or ``--json``; exit code 1 when a check fails."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from trackstack_wh.cli_delivery import parse_time
from trackstack_wh.db import resolve_path
from trackstack_wh.doctor import CHECK_NAMES, DEFAULT_DAYS
from trackstack_wh.errors import UsageError
from trackstack_wh.warehouse import connect

IN_MEMORY = ":memory:"
DESCRIPTION = (
    "Check every item of the TrackStack setup checklist: sink keys and their variables, "
    "destination credentials (--online: tried with each platform) and API versions, the "
    "events each destination expects, the domain allowlist against the page hosts seen, "
    "SDK and identify records, events per funnel stage, the share of conversions with "
    "email / click ID / user agent, deliveries and freshness, quarantine and the sink's "
    "landing. Each check is ok, warn or fail with a one-line fix. Read-only."
)
EPILOG = (
    f"checks: {', '.join(CHECK_NAMES)}. exit codes: 0 no check failed (warnings allowed); "
    "1 a check failed; 2 bad usage or configuration; 3 the warehouse is busy."
)


def add_doctor_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    command = sub.add_parser(
        "doctor",
        help="check the setup checklist (keys, credentials, events, domains, deliveries)",
        description=DESCRIPTION,
        epilog=EPILOG,
    )
    command.add_argument(
        "--days",
        type=float,
        default=DEFAULT_DAYS,
        metavar="N",
        help=f"the data checks read the events of the N days (default {DEFAULT_DAYS:g}) up to "
        "the newest event in the warehouse, not up to now, so recorded data such as the "
        "committed samples is judged as it was when it arrived",
    )
    command.add_argument(
        "--online",
        action="store_true",
        help="also try each enabled destination's credentials with the platform "
        "(as `check-credentials` does); without it only their variables are checked",
    )
    command.add_argument(
        "--landing",
        type=Path,
        metavar="DIR",
        help="the sink's landing directory (default $TRACKSTACK_LANDING, else data/landing)",
    )
    command.add_argument(
        "--as-of",
        metavar="ISO",
        help="the clock for API sunsets, delivery freshness and landing ages (default now)",
    )
    command.add_argument(
        "--json",
        action="store_true",
        help='print {"checks": [{"name", "status": ok|warn|fail, "detail", "fix"}, ...]}',
    )
    command.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    command.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    if not args.days > 0:
        raise UsageError(f"--days must be a positive number of days, not {args.days:g}")
    path = resolve_path(args.db)
    exists = path.is_file()
    if not exists:
        print(
            f"note: no warehouse at {path} yet: the config is judged against an empty one",
            file=sys.stderr,
        )
    with connect(path if exists else IN_MEMORY, config=args.config, read_only=exists) as wh:
        report = wh.doctor(
            days=args.days, online=args.online, landing=args.landing, as_of=parse_time(args.as_of)
        )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.to_text(shutil.get_terminal_size((110, 24)).columns))
    return 0 if report.ok else 1
