"""``trackstack-wh quarantine``: list quarantined records with their fix, count them by
reason and file (``--summary``), or replay them after a fix (``--replay``)."""

from __future__ import annotations

import argparse
import io
import json
import sys

import polars as pl

from trackstack_wh.db import resolve_path
from trackstack_wh.errors import UsageError
from trackstack_wh.ingest.quarantined import count_quarantined
from trackstack_wh.warehouse import Warehouse, connect

FORMATS = ("table", "csv", "json")
TABLE_ROWS = 100
"""Records a table shows unless ``--limit`` says otherwise (CSV and JSON: all)."""
FILE_CHARS = 48
"""A table shows at most this many characters of a file's path, its end (CSV and JSON
show it whole)."""
COLUMNS = {"source_uri": "file", "line_no": "line", "reason": "reason", "detail": "detail"}
"""The listing's columns (the detail names file, line, each reason and its fix); CSV
and JSON add ``batch_id``, ``reasons`` and ``raw``."""


def add_quarantine_command(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    command = sub.add_parser(
        "quarantine",
        help="list quarantined records with their fix, count them, or replay them",
        description="List quarantined records (file, line, reason, and the detail naming "
        "each reason's fix), count them by reason and file with --summary, or validate "
        "them again with --replay and move those that now pass into events (after a "
        "contract or config change, e.g. workspace.default_currency).",
    )
    command.add_argument(
        "--reason", help="only records with this reason (missing_required:currency) or code"
    )
    command.add_argument("--file", help="only records of this file (path, file name or batch ID)")
    command.add_argument(
        "--limit", type=int, metavar="N", help=f"at most N records (table default {TABLE_ROWS})"
    )
    command.add_argument(
        "--format", choices=FORMATS, default="table", help="how to print (default: table)"
    )
    action = command.add_mutually_exclusive_group()
    action.add_argument("--summary", action="store_true", help="counts by reason and file")
    action.add_argument(
        "--replay",
        action="store_true",
        help="validate the selected records again and move those that now pass",
    )
    command.add_argument("--db", default=argparse.SUPPRESS, help="warehouse file")
    command.set_defaults(func=cmd_quarantine)


def cmd_quarantine(args: argparse.Namespace) -> int:
    path = resolve_path(args.db)
    if not path.is_file():
        raise UsageError(f"no warehouse at {path}; run `trackstack-wh demo` or `ingest` first")
    if args.limit is not None and args.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {args.limit}")
    if args.replay and args.limit is not None:
        raise UsageError("--replay takes every selected record; narrow it with --reason/--file")
    with connect(path, config=args.config, read_only=not args.replay) as wh:
        if args.replay:
            _print_replay(wh, args)
        elif args.summary:
            summary = wh.quarantine_summary(reason=args.reason, file=args.file)
            _print_frame(summary, args.format, "quarantined records by reason and file")
        else:
            _print_records(wh, args)
    return 0


def _print_records(wh: Warehouse, args: argparse.Namespace) -> None:
    limit = args.limit if args.limit is not None or args.format != "table" else TABLE_ROWS
    records = wh.quarantine(limit, reason=args.reason, file=args.file)
    shown = records.select(pl.col(list(COLUMNS)).name.map(COLUMNS.__getitem__))
    if args.format != "table":
        reasons = pl.col("reasons")
        joined = reasons.list.join("; ") if args.format == "csv" else reasons
        extra = records.select("batch_id", joined, "raw")
        _print_frame(pl.concat([extra, shown], how="horizontal"), args.format, "")
        return
    total = count_quarantined(wh.conn, reason=args.reason, file=args.file)
    file = pl.col("file")
    short = pl.when(file.str.len_chars() > FILE_CHARS).then("…" + file.str.slice(-(FILE_CHARS - 1)))
    shown = shown.with_columns(short.otherwise(file).alias("file"))
    _print_frame(shown, "table", f"quarantined records: {records.height} of {total}")
    if total > records.height:
        print(f"(--limit {total} shows them all)", file=sys.stderr)


def _print_replay(wh: Warehouse, args: argparse.Namespace) -> None:
    result = wh.replay_quarantine(reason=args.reason, file=args.file)
    row = result.to_dict()
    if args.format == "json":
        print(json.dumps(row, indent=2))
    elif args.format == "csv":
        _print_frame(pl.DataFrame([{**row, "reasons": json.dumps(row["reasons"])}]), "csv", "")
    else:
        print(result.summary())


def _print_frame(frame: pl.DataFrame, fmt: str, title: str) -> None:
    if fmt == "csv":
        buffer = io.StringIO()
        frame.write_csv(buffer)
        sys.stdout.write(buffer.getvalue())
    elif fmt == "json":
        print(json.dumps(frame.to_dicts(), indent=2, default=str))
    else:
        with pl.Config(
            tbl_rows=-1,
            tbl_cols=-1,
            tbl_hide_dataframe_shape=True,
            tbl_hide_column_data_types=True,
            tbl_width_chars=200,
            fmt_str_lengths=400,
        ):
            print(f"{title}:\n{frame}")
