"""``trackstack-wh push``, ``reconcile``, ``check-credentials``, ``diagnostics`` and
``emulator``."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Callable

import polars as pl

from trackstack_wh.config import WorkspaceConfig, load_config
from trackstack_wh.delivery.credentials import CredentialCheck, check_credentials
from trackstack_wh.delivery.report import DestinationReport, PushReport
from trackstack_wh.errors import UsageError
from trackstack_wh.payloads import PAYLOAD_TABLES
from trackstack_wh.warehouse import Warehouse, connect


def parse_time(text: str | None) -> dt.datetime | None:
    """An ISO date or time; naive means UTC."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"{text!r} is not an ISO date or time; write e.g. 2026-10-28 or 2026-10-28T12:00"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def print_table(frame: pl.DataFrame) -> None:
    with pl.Config(
        tbl_rows=200, tbl_cols=30, tbl_hide_dataframe_shape=True, tbl_width_chars=200,
        fmt_str_lengths=90, tbl_hide_column_data_types=True,
    ):  # fmt: skip
        print(frame)


def progress_printer(interval: float = 2.0) -> Callable[[DestinationReport], None]:
    """Prints each destination's progress at most every ``interval`` s, and its end."""
    last: dict[str, float] = {}

    def show(report: DestinationReport) -> None:
        now = time.monotonic()
        finished = report.seconds > 0
        if not finished and now - last.get(report.destination, 0.0) < interval:
            return
        last[report.destination] = now
        done = report.settled
        state = "done" if finished else "..."
        print(
            f"  {report.destination:<11} {done:>9,}/{report.pending:,} "
            f"(delivered {report.delivered:,}, rejected {report.rejected:,}, "
            f"failed {report.failed:,}) {state}",
            file=sys.stderr,
        )

    return show


def run_push(wh: Warehouse, args: argparse.Namespace) -> PushReport:
    return wh.push(
        args.destination or None,
        dry_run=args.dry_run,
        since=parse_time(args.since),
        retry_failed=args.retry_failed,
        as_of=parse_time(args.as_of),
        progress=None if args.json else progress_printer(),
    )


def cmd_push(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.emulator:
        from trackstack_lab.emulator.process import emulated  # asked for: --emulator

        with connect(args.db, config=config) as wh:
            clock = parse_time(args.as_of) or wh.replay_clock()
        args.as_of = clock.isoformat()
        with emulated(config, clock) as pointed, connect(args.db, config=pointed) as wh:
            report = run_push(wh, args)
    else:
        with connect(args.db, config=config) as wh:
            report = run_push(wh, args)
    print(json.dumps(report.to_dict(), indent=2) if args.json else repr(report))
    return 0 if report.ok else 1


def cmd_reconcile(args: argparse.Namespace) -> int:
    with connect(args.db, config=args.config) as wh:
        result = wh.reconcile(parse_time(args.since), mode=args.mode, target=args.target)
        totals = result.totals()
        if args.destination:
            totals = totals.filter(destination=args.destination)
        if args.json:
            print(
                json.dumps(
                    {"ok": result.ok, "problems": result.problems, "totals": totals.to_dicts()},
                    indent=2,
                    default=str,
                )
            )
        else:
            status = "everything accounted for" if result.ok else "NOT accounted for:"
            print(f"{result.title}: {status}")
            for problem in result.problems:
                print(f"  - {problem}")
            print_table(totals)
            reasons = result.reasons
            if args.destination:
                reasons = reasons.filter(destination=args.destination)
            if reasons.height:
                print_table(reasons)
    return 0 if result.ok else 1


def _checks(config: WorkspaceConfig, names: list[str] | None) -> list[CredentialCheck]:
    if names:
        disabled = [n for n in names if not config.destinations[n].enabled]
        if disabled:
            raise UsageError(f"destination(s) {disabled} are not enabled in the workspace config")
    return check_credentials(config, destinations=names or None)


def cmd_check_credentials(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.emulator:
        from trackstack_lab.emulator.process import emulated  # asked for: --emulator

        with emulated(config, None) as pointed:
            checks = _checks(pointed, args.destination)
    else:
        checks = _checks(config, args.destination)
    failing = [c for c in checks if not c.ok]
    if args.json:
        doc = {"ok": not failing, "destinations": [c.to_dict() for c in checks]}
        print(json.dumps(doc, indent=2))
    else:
        print(f"credentials: {len(checks) - len(failing)} ok, {len(failing)} failing")
        for check in checks:
            print("  " + str(check).replace("\n", "\n  "))
    return 1 if failing else 0


def cmd_diagnostics(args: argparse.Namespace) -> int:
    with connect(args.db, config=args.config) as wh:
        readings = wh.fetch_diagnostics(args.destination or None, days=args.days)
        latest = wh.diagnostics()
    failed = [r for r in readings if r.status == "failed"]
    if args.json:
        doc = {"ok": not failed, "readings": [r.to_dict() for r in readings],
               "latest": latest.to_dicts()}  # fmt: skip
        print(json.dumps(doc, indent=2, default=str))
    else:
        if not readings:
            print("diagnostics: no enabled destination offers a read-back (Meta, Google Ads)")
        for r in readings:
            detail = f": {r.message}" if r.message else ""
            print(f"{r.destination} {r.source}: {r.status}, {len(r.rows)} readings{detail}")
        if latest.height:
            print_table(latest.drop("target"))
    return 1 if failed else 0


def cmd_emulator(args: argparse.Namespace) -> int:
    from trackstack_lab.emulator import serve

    serve(args.host, args.port, parse_time(args.clock))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    push = sub.add_parser("push", help="send pending payload rows to their destinations")
    push.add_argument(
        "--destination",
        action="append",
        choices=sorted(PAYLOAD_TABLES),
        help="only this destination (repeatable; default: every enabled one)",
    )
    push.add_argument("--dry-run", action="store_true", help="log what would be sent; send nothing")
    push.add_argument("--since", help="only events at or after this ISO date/time")
    push.add_argument(
        "--retry-failed", action="store_true", help="also resend rows whose retries ran out"
    )
    push.add_argument("--as-of", help="clock for platform age limits (default: now)")
    push.add_argument(
        "--emulator",
        action="store_true",
        help="start the local platform emulator and push to it instead",
    )
    push.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    push.add_argument("--json", action="store_true", help="machine-readable report")
    push.set_defaults(func=cmd_push)
    rec = sub.add_parser("reconcile", help="account for every routed event, per destination")
    rec.add_argument("--since", help="only events at or after this ISO date/time")
    rec.add_argument(
        "--destination", choices=sorted(PAYLOAD_TABLES), help="only this destination's rows"
    )
    rec.add_argument(
        "--mode",
        choices=("live", "test", "validate"),
        default="live",
        help="which deliveries to count: live (default), test (sent with a test_event_code) "
        "or validate (validate_only)",
    )
    rec.add_argument(
        "--target",
        default="live",
        help="whose deliveries to count: live (default), emulator, or the URL a push went to",
    )
    rec.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    rec.add_argument("--json", action="store_true", help="machine-readable result")
    rec.set_defaults(func=cmd_reconcile)
    check = sub.add_parser(
        "check-credentials",
        help="verify each enabled destination's credentials with one cheap authenticated call",
    )
    check.add_argument(
        "--destination",
        action="append",
        choices=sorted(PAYLOAD_TABLES),
        help="only this destination (repeatable; default: every enabled one)",
    )
    check.add_argument(
        "--emulator",
        action="store_true",
        help="start the local platform emulator and check against it instead",
    )
    check.add_argument("--json", action="store_true", help="machine-readable results")
    check.set_defaults(func=cmd_check_credentials)
    diag = sub.add_parser(
        "diagnostics",
        help="read back what the platforms made of what was sent (Meta dataset quality, "
        "Google request statuses) into platform_diagnostics",
    )
    diag.add_argument(
        "--destination",
        action="append",
        choices=["meta", "google_ads"],
        help="only this destination (repeatable; default: every enabled one)",
    )
    diag.add_argument(
        "--days", type=float, default=7.0, help="Google: request IDs of the last N days (7)"
    )
    diag.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    diag.add_argument("--json", action="store_true", help="machine-readable result")
    diag.set_defaults(func=cmd_diagnostics)
    emu = sub.add_parser("emulator", help="serve the local ad-platform and CRM emulator")
    emu.add_argument("--host", default="127.0.0.1", help="address to listen on")
    emu.add_argument(
        "--port", type=int, default=8788, help="port (default 8788; 0 picks a free one)"
    )
    emu.add_argument("--clock", help="the emulator's 'now' at start (ISO; default: real time)")
    emu.set_defaults(func=cmd_emulator)
