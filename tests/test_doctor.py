"""``trackstack-wh doctor`` / ``wh.doctor()``: every checklist item reported on the demo
warehouse, a page host outside ``allowed_domains`` failing with the TOML line that fixes
it, the JSON shape and exit codes, an empty warehouse, sunsets, credentials tried online,
the landing folder, and the Dagster asset check."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import tomllib
from pathlib import Path

import httpx
import pytest

import trackstack_wh as tw
from tests.helpers import ROOT, WEB, event_line, write_lines
from trackstack_wh import cli
from trackstack_wh.config import WorkspaceConfig, load_config, parse_config
from trackstack_wh.doctor import CHECK_NAMES, FAIL, OK, STATUSES, WARN, DoctorReport

CONFIG = ROOT / "trackstack.toml"
CLOCK = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
"""The tests' wall clock (API sunsets and freshness are judged at it)."""
SINK_KEYS = ("TRACKSTACK_DEMO_PUBLISHABLE_KEY", "TRACKSTACK_DEMO_SECRET_KEY")


def demo_secrets() -> dict[str, str]:
    """A value for every key and credential variable the demo config names."""
    names = [*SINK_KEYS, *(n for envs in load_config(CONFIG).credential_envs().values()
                          for n in envs.values())]  # fmt: skip
    return {name: f"secret-value-{i:02d}-abcdefghijkl" for i, name in enumerate(names)}


@pytest.fixture
def demo(source: tuple[Path, dt.datetime], tmp_path: Path) -> Path:
    """A copy of the demo warehouse (samples ingested, payloads built)."""
    copy = tmp_path / "demo.duckdb"
    shutil.copy(source[0], copy)
    return copy


@pytest.fixture
def no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in demo_secrets():
        monkeypatch.delenv(name, raising=False)


def doctor(db: Path, config: Path | object = CONFIG, **options: object) -> DoctorReport:
    with tw.connect(db, read_only=True, config=config) as wh:  # type: ignore[arg-type]
        return wh.doctor(as_of=CLOCK, **options)  # type: ignore[arg-type]


def test_the_demo_warehouse_reports_every_check(demo: Path, no_secrets: None) -> None:
    report = doctor(demo)
    assert tuple(c.name for c in report.checks) == CHECK_NAMES
    assert all(c.status in STATUSES and c.detail for c in report.checks)
    assert all(c.fix for c in report.checks if c.status != OK), "every warn or fail says what to do"
    status = {c.name: c.status for c in report.checks}
    assert status["sink_keys"] == FAIL and status["destination_credentials"] == FAIL
    assert not report.ok
    for name in ("warehouse", "api_versions", "domain_allowlist", "events_by_stage",
                 "sdk_events", "quarantine", "expected_events"):  # fmt: skip
        assert status[name] == OK, report.check(name)
    assert status["identify"] == WARN  # the samples hold no identify record
    assert status["deliveries"] == WARN  # nothing was sent to the live platforms
    assert "$TRACKSTACK_META_TOKEN" in report.check("destination_credentials").detail
    assert "top reasons: invalid_json" in report.check("quarantine").detail
    assert "PageView" in report.check("events_by_stage").detail
    text = report.to_text()
    assert all(name in text for name in CHECK_NAMES) and report.summary() in text


def test_the_window_ends_at_the_newest_event_not_now(demo: Path, no_secrets: None) -> None:
    with tw.connect(demo, read_only=True, config=CONFIG) as wh:
        newest = wh.sql("select max(ts) as t from events").item()
        month, day = wh.doctor(as_of=CLOCK), wh.doctor(days=1, as_of=CLOCK)
    assert f"{newest:%Y-%m-%d %H:%M}" in month.window
    assert month.check("events_by_stage").status == OK  # weeks before the clock: still seen
    assert month.check("events_by_stage").detail != day.check("events_by_stage").detail


def test_a_page_host_outside_the_allowlist_fails_with_the_toml_line(
    tmp_path: Path, no_secrets: None
) -> None:
    at = dt.datetime(2026, 10, 20, 12, tzinfo=dt.UTC)

    def page(name: str, event_id: str, url: str, **fields: object) -> str:
        return event_line(name, event_id, at, **{**WEB, "pageUrl": url, **fields})

    lines = [
        *(page("PageView", f"acme-pv-{i}", f"https://app.acme.io/p{i}?x=1") for i in range(3)),
        page("SignUp", "acme-signup", "https://app.acme.io/signup", email="ann@acme.test"),
        page("PageView", "local-pv", "http://localhost:3000/"),
        *(page("PageView", f"ok-pv-{i}", "https://www.example.com/") for i in range(2)),
    ]
    db = tmp_path / "acme.duckdb"
    with tw.connect(db, config=CONFIG) as wh:
        wh.ingest(write_lines(tmp_path / "acme.ndjson", lines))
        wh.build_payloads(as_of=wh.replay_clock())
        reasons = wh.sql("select distinct reason from event_routes where event_id like 'acme-%'")
    assert reasons["reason"].to_list() == ["domain_not_allowed"]

    check = doctor(db).check("domain_allowlist")
    assert check.status == FAIL
    assert "5 events" in check.detail and "app.acme.io (4)" in check.detail
    assert "localhost (1)" in check.detail
    line = 'allowed_domains = ["*.example.com", "app.acme.io"]'
    assert line in check.fix and "[workspace]" in check.fix
    assert tomllib.loads(line)["allowed_domains"] == ["*.example.com", "app.acme.io"]

    fixed = tmp_path / "fixed.toml"
    fixed.write_text(CONFIG.read_text().replace('allowed_domains = ["*.example.com"]', line))
    after = doctor(db, config=fixed).check("domain_allowlist")
    assert after.status == WARN and "localhost (1)" in after.detail  # cannot be allowed


def test_json_shape_and_exit_code_1_on_a_failed_check(
    demo: Path, no_secrets: None, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--db", str(demo), "--config", str(CONFIG), "doctor", "--json",
            "--as-of", CLOCK.isoformat()]  # fmt: skip
    assert cli.main(argv) == 1
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"checks"}
    assert [c["name"] for c in out["checks"]] == list(CHECK_NAMES)
    assert all(set(c) == {"name", "status", "detail", "fix"} for c in out["checks"])
    assert {c["status"] for c in out["checks"]} <= set(STATUSES)
    assert any(c["status"] == FAIL for c in out["checks"])


def test_exit_code_0_when_nothing_fails_and_no_secret_is_printed(
    demo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = demo_secrets()
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    base = ["--db", str(demo), "--config", str(CONFIG), "doctor", "--as-of", CLOCK.isoformat()]
    assert cli.main([*base, "--json"]) == 0
    out = capsys.readouterr().out
    statuses = {c["name"]: c["status"] for c in json.loads(out)["checks"]}
    assert FAIL not in statuses.values() and WARN in statuses.values()
    assert statuses["sink_keys"] == statuses["destination_credentials"] == OK
    assert cli.main(base) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[2].split() == ["status", "check", "detail"]
    assert all(f" {name} " in table for name in CHECK_NAMES)
    for value in secrets.values():
        assert value not in out and value not in table
    assert "TRACKSTACK_DEMO_SECRET_KEY" in out  # named, not shown


def test_an_empty_warehouse_warns_and_never_fails(wh: tw.Warehouse) -> None:
    report = wh.doctor(as_of=CLOCK)
    assert tuple(c.name for c in report.checks) == CHECK_NAMES
    assert report.ok and report.status == WARN
    data = ("warehouse", "expected_events", "domain_allowlist", "sdk_events", "identify",
            "events_by_stage", "match_keys", "quarantine")  # fmt: skip
    assert all(report.check(n).status == WARN and report.check(n).fix for n in data)
    assert "no events in the warehouse yet" in report.check("events_by_stage").detail
    assert "no destination is enabled" in report.check("deliveries").detail
    assert report.window.startswith("no events in the warehouse yet")


def test_the_command_without_a_warehouse_file_judges_the_config_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "none.duckdb"
    assert cli.main(["--db", str(db), "doctor"]) == 0
    captured = capsys.readouterr()
    assert f"no warehouse at {db} yet" in captured.err
    assert "14 checks:" in captured.out and not db.exists()
    assert cli.main(["--db", str(db), "doctor", "--days", "0"]) == 2
    assert "--days must be a positive number" in capsys.readouterr().err


def config_with(**destinations: dict[str, object]) -> WorkspaceConfig:
    return parse_config({"destinations": destinations})


def test_sunset_api_versions_fail_and_upcoming_ones_warn(wh: tw.Warehouse) -> None:
    wh.config = config_with(
        google_ads={"enabled": True, "customer_id": "123-456-7890",
                    "api_versions": {"google_ads_api": "v22"}},
    )  # fmt: skip
    check = wh.doctor(as_of=CLOCK).check("api_versions")
    assert check.status == FAIL and "google_ads_api v22 was sunset on 2026-10-07" in check.detail
    assert check.fix == "set destinations.google_ads.api_versions.google_ads_api to v26 or later"
    wh.config = config_with(linkedin={"enabled": True})
    soon = wh.doctor(as_of=dt.datetime(2027, 1, 10, tzinfo=dt.UTC)).check("api_versions")
    assert soon.status == WARN and "linkedin: 202603 sunsets 2027-03-16" in soon.detail
    assert wh.doctor(as_of=CLOCK).check("api_versions").status == OK


def test_online_tries_each_credential_with_the_platform(
    wh: tw.Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh.config = config_with(
        meta={"enabled": True, "pixel_id": "100000000000001", "access_token_env": "T_META"}
    )
    assert wh.doctor(as_of=CLOCK).check("destination_credentials").status == FAIL  # unset
    monkeypatch.setenv("T_META", "token-value-1234567890")
    offline = wh.doctor(as_of=CLOCK).check("destination_credentials")
    assert offline.status == OK and "--online" in offline.detail

    def answer(status: int, body: object) -> httpx.MockTransport:
        return httpx.MockTransport(lambda request: httpx.Response(status, json=body))

    accepted = wh.doctor(as_of=CLOCK, online=True, transport=answer(200, {"id": "1"}))
    assert accepted.check("destination_credentials").status == OK
    expired = {"error": {"message": "Error validating access token: Session has expired",
                         "type": "OAuthException", "code": 190, "error_subcode": 463}}  # fmt: skip
    refused = wh.doctor(as_of=CLOCK, online=True, transport=answer(400, expired))
    check = refused.check("destination_credentials")
    assert check.status == FAIL and "meta: expired" in check.detail and "T_META" in check.fix
    assert "token-value-1234567890" not in json.dumps(refused.to_dict())


def test_deliveries_name_the_last_live_delivery_and_other_targets(wh: tw.Warehouse) -> None:
    wh.conn.execute(
        "insert into delivery_log (attempt_id, run_id, destination, request_kind, event_id, "
        "mode, target, attempt, sent_at, outcome) values "
        "('a1', 'r1', 'meta', 'event', 'e1', 'live', 'live', 1, $live_at, 'delivered'), "
        "('a2', 'r1', 'tiktok', 'event', 'e1', 'live', 'emulator', 1, $live_at, 'delivered')",
        {"live_at": CLOCK - dt.timedelta(hours=2)},
    )
    meta = {"enabled": True, "pixel_id": "100000000000001"}
    wh.config = config_with(meta=meta, tiktok={"enabled": True, "pixel_code": "C4X"})
    check = wh.doctor(as_of=CLOCK).check("deliveries")
    assert check.status == WARN and "push" in check.fix
    assert check.detail == (
        "never delivered live: tiktok; each delivered only to target 'emulator'; "
        "last live delivery: meta 2026-11-30 22:00 UTC (2 h ago)"
    )
    wh.config = config_with(meta=meta)
    assert wh.doctor(as_of=CLOCK).check("deliveries").status == OK


def test_landing_segments_waiting_for_ingest_warn(wh: tw.Warehouse, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    assert wh.doctor(landing=landing, as_of=CLOCK).check("landing").status == OK
    landing.mkdir()
    (landing / "seg-20261130T230000000000Z-000000.landing.ndjson").write_text("{}\n")
    (landing / "seg-20261130T235000000000Z-000001.landing.ndjson.open").write_text("")
    check = wh.doctor(landing=landing, as_of=CLOCK).check("landing")
    assert check.status == WARN
    assert "1 closed segment(s)" in check.detail and "an open segment is 10 min old" in check.detail
    assert f"ingest --landing {landing}" in check.fix and "serve" in check.fix


@pytest.mark.integration
def test_the_dagster_asset_check_runs_the_doctor(
    demo: Path, tmp_path: Path, no_secrets: None
) -> None:
    import dagster as dg

    from dagster_defs.defs.reports.doctor import CHECK, setup_doctor
    from dagster_defs.defs.reports.html_report import html_report
    from dagster_defs.lib.resources import FoldersResource, WarehouseResource, WorkspaceResource

    result = dg.materialize(
        [html_report, setup_doctor],
        selection=dg.AssetSelection.checks(setup_doctor),
        resources={
            "warehouse": WarehouseResource(database=str(demo)),
            "workspace": WorkspaceResource(config_path=str(CONFIG), clock=CLOCK.isoformat()),
            "folders": FoldersResource(landing=str(tmp_path / "landing")),
        },
    )
    assert result.success
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == CHECK and not evaluation.passed
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR  # the demo's variables are unset
    checks = evaluation.metadata["checks"].value
    assert [c["name"] for c in checks] == list(CHECK_NAMES)  # type: ignore[union-attr]
