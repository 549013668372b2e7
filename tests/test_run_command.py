"""``trackstack-wh run``: the whole chain once, as cron runs it, on a temporary warehouse
(``--emulator`` starts a local platform emulator per run, so these tests start processes).
Also ``Warehouse.run`` with a recording transport."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import httpx
import pytest

import trackstack_wh as tw
from tests.helpers import ROOT, WEB, event_line
from trackstack_wh.cli import main

CONFIG = ROOT / "trackstack.toml"
CLOCK = "2026-10-22T12:00:00+00:00"
AT = dt.datetime(2026, 10, 22, 10, tzinfo=dt.UTC)
"""The events' time: two hours before the clock, inside every platform's age limit."""
EVENTS = ("LeadCaptured", "SignUp", "Purchase", "DemoBooked", "StartTrial")
"""Routed to every destination of the demo config, each with a ready row there."""


def event_lines(prefix: str, at: dt.datetime = AT) -> dict[str, str]:
    """One event of each of ``EVENTS`` (IDs ``<prefix>-0``...), with the match keys
    and context every destination needs: event ID -> NDJSON line."""
    out = {}
    for i, name in enumerate(EVENTS):
        extra: dict[str, object] = {"plan": "pro"} if name == "StartTrial" else {}
        if name == "Purchase":
            extra = {"value": 9900, "currency": "USD", "transactionId": f"tx-{prefix}-{i}"}
        event_id = f"{prefix}-{i}"
        out[event_id] = event_line(
            name, event_id, at + dt.timedelta(minutes=i), email=f"{prefix}{i}@acme.example",
            firstName="Ada", lastName="Lovelace", companyName="Acme", gclid=f"g-{prefix}{i}",
            fbclid=f"f-{prefix}{i}", li_fat_id=f"l-{prefix}{i}", ttclid=f"t-{prefix}{i}",
            **WEB, **extra,
        )  # fmt: skip
    return out


def write_events(path: Path, prefix: str) -> set[str]:
    """An NDJSON file of ``event_lines(prefix)``; returns the event IDs."""
    lines = event_lines(prefix)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines.values()) + "\n")
    return set(lines)


def write_segment(landing: Path, prefix: str) -> set[str]:
    """A closed landing segment (one batch, as the sink writes it) of
    ``event_lines(prefix)``; returns the event IDs."""
    lines = event_lines(prefix)
    header = {"_edgeBatch": {"batchId": f"batch-{prefix}", "receivedAt": AT.isoformat(),
                             "project": "demo", "keyKind": "secret", "events": len(lines),
                             "bytes": sum(map(len, lines.values()))}}  # fmt: skip
    landing.mkdir(parents=True, exist_ok=True)
    segment = landing / f"seg-20261022T100000000000Z-{prefix}.landing.ndjson"
    segment.write_text("\n".join([json.dumps(header), *lines.values()]) + "\n")
    return set(lines)


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    """``trackstack-wh run`` on tmp_path's warehouse, inbox and landing: (exit code, stdout)."""
    for folder in ("inbox", "landing"):
        (tmp_path / folder).mkdir(exist_ok=True)
    code = main([
        "--db", str(tmp_path / "wh.duckdb"), "--config", str(CONFIG), "run",
        "--inbox", str(tmp_path / "inbox"), "--landing", str(tmp_path / "landing"),
        "--as-of", CLOCK, *extra,
    ])  # fmt: skip
    return code, capsys.readouterr().out


def delivered_by_run(
    db: Path, run_id: str, *, events_only: bool = False
) -> dict[tuple[str, str], int]:
    """(destination, event ID) -> rows delivered by one push run (``events_only``: without
    PostHog's person and group rows, which no event drives)."""
    with tw.connect(db, read_only=True, config=CONFIG) as wh:
        rows = wh.sql(
            "select destination, event_id, count(*) as n from delivery_log "
            "where run_id = $r and outcome = 'delivered' "
            "and not ($events_only and request_kind = 'identify') group by all",
            r=run_id,
            events_only=events_only,
        )
    return {(d, e): n for d, e, n in rows.iter_rows()}


def test_a_second_run_sends_only_the_new_rows_to_the_emulator(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first_ids = write_events(tmp_path / "inbox" / "a.ndjson", "a")
    code, out = run(tmp_path, capsys, "--emulator", "--json")
    assert code == 0, out
    first = json.loads(out)
    assert set(first) == {
        "ok", "problems", "as_of", "dry_run", "rebuild", "target", "seconds", "ingest",
        "quality", "destinations", "push_run_id",
    }  # fmt: skip
    assert first["ok"] and first["problems"] == [] and first["target"] == "emulator"
    assert set(first["seconds"]) == {"ingest", "quality", "payloads", "push", "total"}
    assert first["ingest"]["files_loaded"] == 1
    assert first["ingest"]["totals"] == {"rows_in": 5, "rows_valid": 5, "rows_quarantined": 0,
                                         "rows_duplicate": 0}  # fmt: skip
    assert first["quality"]["scored"] == 5
    by_dest = {d["destination"]: d for d in first["destinations"]}
    assert len(by_dest) == 9
    for d in by_dest.values():
        assert d["built"] > 0 and d["halted"] is None, d
        assert d["delivered"] + d["superseded"] == d["pending"] == d["sent"], d
    sent_first = delivered_by_run(tmp_path / "wh.duckdb", first["push_run_id"])
    events_first = delivered_by_run(tmp_path / "wh.duckdb", first["push_run_id"], events_only=True)
    assert {e for _, e in events_first} == first_ids
    assert sum(sent_first.values()) == sum(d["delivered"] for d in by_dest.values())

    # New events arrive: a file in the inbox and a segment from the sink.
    new_ids = write_events(tmp_path / "inbox" / "b.ndjson", "b")
    new_ids |= write_segment(tmp_path / "landing", "c")
    code, out = run(tmp_path, capsys, "--emulator", "--json")
    assert code == 0, out
    second = json.loads(out)
    assert second["ingest"]["files_loaded"] == 2
    assert second["ingest"]["files_already_ingested"] == 1  # a.ndjson, known by its content
    assert second["quality"]["scored"] == 10
    assert not (tmp_path / "landing" / "seg-20261022T100000000000Z-c.landing.ndjson").exists()
    sent_second = delivered_by_run(tmp_path / "wh.duckdb", second["push_run_id"], events_only=True)
    assert {e for _, e in sent_second} == new_ids  # only the new events went out
    with tw.connect(tmp_path / "wh.duckdb", read_only=True, config=CONFIG) as wh:
        per_row = wh.sql(
            "select max(n) as most from (select count(*) as n from delivery_log "
            "where outcome = 'delivered' group by destination, request_kind, event_id)"
        ).item()
        new_rows = {
            d: wh.sql(f"select count(*) from {t} where event_id like 'b-%' or event_id like 'c-%'")
            .item() for d, t in (("meta", "capi_meta"), ("google_ads", "capi_google_ads"))
        }  # fmt: skip
    assert per_row == 1  # no row delivered twice
    second_by_dest = {d["destination"]: d for d in second["destinations"]}
    for name, rows in new_rows.items():
        assert second_by_dest[name]["built"] == rows == second_by_dest[name]["delivered"]

    # Nothing new: nothing built, nothing sent.
    code, out = run(tmp_path, capsys, "--emulator", "--json")
    third = json.loads(out)
    assert code == 0 and third["ingest"]["files_loaded"] == 0
    assert third["quality"]["ran"] is False
    assert all(d["built"] == d["sent"] == d["pending"] == 0 for d in third["destinations"])


def test_text_summary_fits_one_screen(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_events(tmp_path / "inbox" / "a.ndjson", "a")
    code, out = run(tmp_path, capsys, "--emulator")
    assert code == 0, out
    lines = out.splitlines()
    assert len(lines) <= 25, out
    assert lines[0].startswith("run ok: clock 2026-10-22T12:00:00+00:00, target emulator")
    assert [line.split()[0] for line in lines if not line.startswith(" ")] == [
        "run", "ingest", "quality", "payloads", "push",
    ]  # fmt: skip
    assert "rows in 5 = 5 valid + 0 quarantined + 0 duplicate" in out
    assert "full: 5 of 5 events scored" in out
    meta = next(line for line in lines if line.split()[:1] == ["meta"])
    assert meta.split()[1:] == ["5", "0", "5", "5", "5", "0", "0", "0", "1"]


def test_dry_run_sends_nothing_and_says_what_would_be_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_events(tmp_path / "inbox" / "a.ndjson", "a")
    code, out = run(tmp_path, capsys, "--dry-run")
    assert code == 0, out
    assert "would send 47 rows; nothing sent" in out  # 41, and PostHog's 5 events + 1 group
    assert "dry run (nothing sent)" in out.splitlines()[0]
    with tw.connect(tmp_path / "wh.duckdb", read_only=True, config=CONFIG) as wh:
        outcomes = wh.sql("select distinct outcome from delivery_log")["outcome"].to_list()
    assert outcomes == ["dry_run"]

    # Through the library, with the network replaced: not one request.
    requests: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(500)

    write_events(tmp_path / "inbox" / "b.ndjson", "b")
    with tw.connect(tmp_path / "wh.duckdb", config=CONFIG) as wh:
        summary = wh.run(
            inbox=tmp_path / "inbox", dry_run=True, as_of=dt.datetime.fromisoformat(CLOCK),
            transport=httpx.MockTransport(record),
        )  # fmt: skip
    assert requests == []
    assert summary.ok and summary.landing is None
    # a's rows again, and b's (PostHog: a's 5 events and its company, b's 5 events)
    assert sum(d.would_send for d in summary.destinations) == 93
    assert sum(d.sent for d in summary.destinations) == 0


GOOGLE_ADS_UNREACHABLE = """
[workspace]
allowed_domains = ["*.example.com"]

[destinations.google_ads]
enabled = true
customer_id = "123-456-7890"
base_url = "http://127.0.0.1:9"
access_token_env = "RUN_TEST_UNSET_TOKEN"
developer_token_env = "RUN_TEST_UNSET_DEVELOPER_TOKEN"
delivery = { max_attempts = 1, retry_base_seconds = 0.01 }

[destinations.google_ads.conversion_actions]
LeadCaptured = "700000001"
"""


def test_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """0 when every step is fine; 1 when a destination halted (or a file is unreadable);
    2 for a folder named on the command line that does not exist."""
    inbox, db = tmp_path / "inbox", str(tmp_path / "wh.duckdb")
    write_events(inbox / "a.ndjson", "a")
    base = ["--db", db, "run", "--inbox", str(inbox), "--as-of", CLOCK]
    # No destination enabled (the tests' default config): ingested, nothing to push, ok.
    assert main(base) == 0
    assert "nothing to push (no destination enabled)" in capsys.readouterr().out

    # A destination without its credentials halts: exit 1, the reason on screen.
    for name in ("RUN_TEST_UNSET_TOKEN", "RUN_TEST_UNSET_DEVELOPER_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "google.toml"
    config.write_text(GOOGLE_ADS_UNREACHABLE)
    assert main(["--config", str(config), *base]) == 1
    out = capsys.readouterr().out
    assert "run attention needed" in out and "- google_ads: halted: " in out
    assert "HALTED (see problems)" in out

    # An unreadable file: exit 1, named.
    (inbox / "broken.json").write_text("{not json")
    assert main(base) == 1
    assert f"- {inbox / 'broken.json'}: unreadable: " in capsys.readouterr().out

    # A folder named on the command line must exist.
    assert main([*base, "--landing", str(tmp_path / "nowhere")]) == 2
    assert "--landing" in capsys.readouterr().err


def test_default_folders_follow_the_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --inbox / --landing: $TRACKSTACK_INBOX / $TRACKSTACK_LANDING, as the Dagster
    resources resolve them; a default folder that does not exist is a note, not an error."""
    write_events(tmp_path / "drop" / "a.ndjson", "a")
    monkeypatch.setenv("TRACKSTACK_INBOX", str(tmp_path / "drop"))
    monkeypatch.setenv("TRACKSTACK_LANDING", str(tmp_path / "no_landing"))
    assert main(["--db", str(tmp_path / "wh.duckdb"), "run", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["ingest"]["inbox"] == str(tmp_path / "drop")
    assert summary["ingest"]["files_loaded"] == 1
    assert summary["ingest"]["notes"] == [
        f"landing {tmp_path / 'no_landing'}: no such folder, no segments ingested"
    ]
