#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project into it. Sourced by scripts/demo
# (`source bootstrap.sh runtime`: the package alone, the quickest first run) and by
# scripts/test (the package with its dev extras), so both set up the same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
setup="${1:-dev}"
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
installed() { [ -f ".venv/.trackstack-installed-$1" ] && [ ! pyproject.toml -nt ".venv/.trackstack-installed-$1" ]; }
if ! installed dev && { [ "$setup" = dev ] || ! installed runtime; }; then
    target="."
    [ "$setup" = dev ] && target=".[dev]"
    .venv/bin/python -m pip install --quiet -e "$target"
    touch ".venv/.trackstack-installed-$setup"
fi
export PATH="$PWD/.venv/bin:$PATH"
