"""Connection settings: UTC, and the optional DuckDB memory cap from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

import trackstack_wh as tw
from trackstack_wh.errors import ConfigError


def test_memory_cap_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKSTACK_MEMORY_LIMIT", "300MB")
    with tw.connect(tmp_path / "capped.duckdb") as wh:
        settings = wh.sql(
            "select current_setting('memory_limit') as cap, "
            "current_setting('preserve_insertion_order') as ordered, "
            "current_setting('TimeZone') as tz"
        ).row(0, named=True)
    assert settings["cap"].endswith("MiB") and float(settings["cap"].split()[0]) < 300
    assert settings["ordered"] is False and settings["tz"] == "UTC"
    monkeypatch.setenv("TRACKSTACK_MEMORY_LIMIT", "lots")
    with pytest.raises(ConfigError, match="use a size like 512MB"):
        tw.connect(tmp_path / "bad.duckdb")


def test_no_cap_keeps_duckdb_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACKSTACK_MEMORY_LIMIT", raising=False)
    with tw.connect(tmp_path / "free.duckdb") as wh:
        ordered = wh.sql("select current_setting('preserve_insertion_order') as o").item()
    assert ordered is True
