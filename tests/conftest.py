"""Shared fixtures: every test gets its own warehouse file under tmp_path."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import trackstack_wh as tw
from tests.helpers import ROOT, run_in_terminal


@pytest.fixture(autouse=True)
def _isolated_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKSTACK_DB", str(tmp_path / "env.duckdb"))
    empty = tmp_path / "no_destinations.toml"
    empty.write_text("")
    monkeypatch.setenv("TRACKSTACK_CONFIG", str(empty))


@pytest.fixture
def wh(tmp_path: Path) -> Iterator[tw.Warehouse]:
    with tw.connect(tmp_path / "wh.duckdb") as warehouse:
        yield warehouse


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, float]:
    """``trackstack-wh demo`` run once on a terminal into a fresh warehouse: (warehouse,
    what it printed, seconds). Tests only read the warehouse (or run the demo again)."""
    root = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKSTACK_")}
    env.update(TERM="xterm")
    db = root / "warehouse.duckdb"
    code, out, seconds = run_in_terminal(
        [sys.executable, "-m", "trackstack_wh.cli", "--db", str(db), "demo"], env=env, cwd=ROOT
    )
    assert code == 0, out
    return db, out, seconds
