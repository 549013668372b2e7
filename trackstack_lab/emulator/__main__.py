"""``python -m trackstack_lab.emulator [--host H] [--port P] [--clock ISO]``."""

from __future__ import annotations

import argparse
from datetime import datetime

from trackstack_lab.emulator.server import serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m trackstack_lab.emulator",
        description="Serve the local ad-platform / CRM emulator.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--clock",
        type=datetime.fromisoformat,
        default=None,
        help="the emulator's start time (ISO 8601; default: the real UTC time)",
    )
    args = parser.parse_args(argv)
    serve(args.host, args.port, args.clock)


if __name__ == "__main__":
    main()
