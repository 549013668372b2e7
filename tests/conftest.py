"""Shared fixtures: every test gets its own warehouse file under tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import trackstack_wh as tw


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
