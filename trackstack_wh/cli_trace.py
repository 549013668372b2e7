"""``trackstack-wh trace``: one conversion end to end, by event ID, email or transaction
ID (``wh.trace``), as text or JSON."""

from __future__ import annotations

import argparse

from trackstack_wh.db import resolve_path
from trackstack_wh.errors import UsageError
from trackstack_wh.trace import DEFAULT_LIMIT
from trackstack_wh.warehouse import connect


def add_trace_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    command = sub.add_parser(
        "trace",
        help="one conversion end to end: source line, routing, payloads, deliveries",
        description="Trace an event: the file and line it came from (or its quarantine or "
        "duplicate record), its fields, quality score and match keys, each destination's "
        "routing decision and payload row (secrets masked), every delivery attempt and its "
        "reconciliation bucket. --email lists a person's conversions, most recent first, "
        "and traces the latest; --transaction-id traces every event with that ID.",
    )
    command.add_argument("event_id", nargs="?", help="the event ID (eventId) to trace")
    command.add_argument(
        "--email", help="a person's email (normalized and hashed as identity does)"
    )
    command.add_argument("--transaction-id", help="a transactionId or orderId")
    command.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"events listed for --email / --transaction-id (default {DEFAULT_LIMIT})",
    )
    command.add_argument(
        "--all", action="store_true", help="with --email: trace every event listed, in full"
    )
    command.add_argument("--json", action="store_true", help="the trace as one JSON document")
    command.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    command.set_defaults(func=cmd_trace)


def cmd_trace(args: argparse.Namespace) -> int:
    given = [v for v in (args.event_id, args.email, args.transaction_id) if v is not None]
    if len(given) != 1:
        raise UsageError("give one of EVENT_ID, --email or --transaction-id")
    path = resolve_path(args.db)
    if not path.is_file():
        raise UsageError(f"no warehouse at {path}; run `trackstack-wh demo` or `ingest` first")
    with connect(path, config=args.config, read_only=True) as wh:
        found = wh.trace(
            args.event_id, email=args.email, transaction_id=args.transaction_id,
            limit=args.limit, trace_all=args.all,
        )  # fmt: skip
    print(found.to_json() if args.json else found.to_text())
    return 0
