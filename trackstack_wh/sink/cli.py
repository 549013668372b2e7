"""Command-line pieces of the sink, shared by ``trackstack-wh serve`` and
``python -m trackstack_wh.sink``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trackstack_wh.config import load_config
from trackstack_wh.errors import TrackstackError
from trackstack_wh.serving import listening_line
from trackstack_wh.sink.segments import DEFAULT_LANDING
from trackstack_wh.sink.server import DEFAULT_PORT, serve


def add_arguments(parser: argparse.ArgumentParser, default_port: int = DEFAULT_PORT) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    parser.add_argument(
        "--landing",
        type=Path,
        default=DEFAULT_LANDING,
        help=f"landing directory (default {DEFAULT_LANDING})",
    )


def announce(url: str) -> None:
    """Print ``sink listening on URL`` on stdout (how ``SinkProcess`` finds the port)."""
    print(listening_line("sink", url), flush=True)


def run(args: argparse.Namespace, config_path: str | None) -> int:
    """Serve until stopped; a setup problem is printed and gives exit code 2."""
    try:
        serve(load_config(config_path), args.landing, args.host, args.port, on_listening=announce)
    except TrackstackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
