#!/usr/bin/env bash
# Creates .venv (if missing) and installs the project with its dev extras into it.
# Sourced by scripts/demo and scripts/test so both set up the same way.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
stamp=.venv/.trackstack-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet -e ".[dev]"
    touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"
