"""Nothing disappears silently: events routed nowhere are counted by reason in the payload
summary (and a warehouse where nothing was routed says so), and `ingest --landing` says
which segments are still open and when they close."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

import trackstack_wh as tw
from tests.helpers import event_line, write_lines
from trackstack_wh.cli import main

AT = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
CONFIG = str(Path(__file__).resolve().parent.parent / "trackstack.toml")
"""The committed workspace: every destination on, pages allowed on *.example.com."""


def _foreign_domain_events(tmp_path: Path) -> Path:
    lines = [
        event_line("SignUp", f"s{i}", AT, email=f"u{i}@acme.io", pageUrl="https://app.acme.io/x")
        for i in range(5)
    ]
    return write_lines(tmp_path / "acme.ndjson", lines)


def test_events_routed_nowhere_are_counted_and_the_payload_command_warns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "wh.duckdb")
    events = str(_foreign_domain_events(tmp_path))
    assert main(["--db", db, "--config", CONFIG, "ingest", events]) == 0
    assert main(["--db", db, "--config", CONFIG, "payloads", "--as-of", "2026-11-30T13:00"]) == 0
    out, err = capsys.readouterr()
    assert "not_routed" in out and "domain_not_allowed 5" in out
    assert "warning: no event was routed to any destination" in err
    assert "allowed_domains" in err
    with tw.connect(db, config=CONFIG) as wh:
        summary = wh.payload_summary()
        nowhere = summary.filter(status="not_routed", skip_reason="domain_not_allowed")
        assert set(nowhere["rows"]) == {5}
        assert nowhere["destination"].n_unique() == len(wh.config.enabled())


def test_a_routed_warehouse_gives_no_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "wh.duckdb")
    line = event_line("SignUp", "ok", AT, email="a@b.example.com",
                      pageUrl="https://app.example.com/signup")  # fmt: skip
    path = str(write_lines(tmp_path / "ok.ndjson", [line]))
    main(["--db", db, "--config", CONFIG, "ingest", path])
    assert main(["--db", db, "--config", CONFIG, "payloads", "--as-of", "2026-11-30T13:00"]) == 0
    out, err = capsys.readouterr()
    assert "no event was routed" not in err and "ready" in out


def test_ingest_landing_names_the_segments_still_open(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=20)
    name = f"seg-{started:%Y%m%dT%H%M%S%f}Z-000001.landing.ndjson.open"
    (landing / name).write_text("")
    code = main(["--db", str(tmp_path / "wh.duckdb"), "ingest", "--landing", str(landing)])
    _, err = capsys.readouterr()
    assert code == 0
    assert "note: 1 landing segment(s) still open" in err
    assert "the oldest in about 40 s" in err or "the oldest in about 39 s" in err
    (landing / name).unlink()
    main(["--db", str(tmp_path / "wh.duckdb"), "ingest", "--landing", str(landing)])
    assert "still open" not in capsys.readouterr().err
