"""``python -m trackstack_wh.sink [--host H] [--port P] [--landing DIR] [--config FILE]``."""

from __future__ import annotations

import argparse
import logging
import sys

from trackstack_wh.sink.cli import add_arguments, run

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trackstack_wh.sink", description="Serve the HTTP event sink."
    )
    add_arguments(parser)
    parser.add_argument("--config", default=None, help="trackstack.toml to read")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also log what the sink does (INFO)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(format=LOG_FORMAT, level=logging.WARNING, stream=sys.stderr)
    if args.verbose:
        logging.getLogger("trackstack_wh").setLevel(logging.INFO)
    return run(args, args.config)


if __name__ == "__main__":
    sys.exit(main())
