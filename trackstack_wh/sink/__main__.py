"""``python -m trackstack_wh.sink [--host H] [--port P] [--landing DIR] [--config FILE]``."""

from __future__ import annotations

import argparse
import sys

from trackstack_wh.sink.cli import add_arguments, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m trackstack_wh.sink", description="Serve the HTTP event sink."
    )
    add_arguments(parser)
    parser.add_argument("--config", default=None, help="trackstack.toml to read")
    args = parser.parse_args(argv)
    return run(args, args.config)


if __name__ == "__main__":
    sys.exit(main())
