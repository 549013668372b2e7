"""Reading back what the platforms made of what we sent, from the emulator's read-back
endpoints (Meta's Dataset Quality API, Google's requestStatus:retrieve and upload
summary), and read-back failures that never block delivery."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import trackstack_wh as tw
from trackstack_lab.emulator import EmulatorProcess
from trackstack_wh.config import load_config

ROOT = Path(__file__).parent.parent
TOKEN = "tok-5ecret-diagnostics"


@pytest.fixture
def sent(
    source: tuple[Path, dt.datetime],
    emulator: EmulatorProcess,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tw.Warehouse]:
    """The samples pushed to Meta and Google Ads on a freshly reset emulator."""
    emulator.reset()
    emulator.set_clock(source[1])
    config = load_config(ROOT / "trackstack.toml").pointed_at(emulator.base_url, target="emulator")
    for dest in config.enabled():
        for name in dest.credential_envs().values():
            monkeypatch.setenv(name, TOKEN)
    db = tmp_path / "wh.duckdb"
    shutil.copy(source[0], db)
    with tw.connect(db, config=config) as wh:
        report = wh.push(["meta", "google_ads"], as_of=source[1])
        assert report.ok, report
        yield wh


def test_meta_quality_and_google_request_statuses_are_read_back(sent: tw.Warehouse) -> None:
    wh = sent
    readings = {r.destination: r for r in wh.fetch_diagnostics()}
    assert {d: r.status for d, r in readings.items()} == {"meta": "ok", "google_ads": "ok"}
    latest = wh.diagnostics()
    meta = latest.filter(destination="meta", metric="event_match_quality")
    assert meta.height > 0 and all(0 <= v <= 10 for v in meta["value"])
    assert latest.filter(destination="meta", metric="coverage:email").height > 0
    requests = wh.sql(
        "select count(distinct trace_id) from delivery_requests "
        "where destination = 'google_ads' and http_status = 200"
    ).item()
    statuses = latest.filter(destination="google_ads", metric="request_status")
    assert requests > 0 and statuses.height == requests
    assert set(statuses["text"]) == {"SUCCESS"}
    assert set(statuses["target"]) == {"emulator"}
    again = {r.destination: r for r in wh.fetch_diagnostics("google_ads")}
    assert again["google_ads"].calls == 0, "final statuses are not asked again"


def test_the_quality_report_shows_our_score_beside_the_platforms(sent: tw.Warehouse) -> None:
    wh = sent
    wh.fetch_diagnostics()
    platform = wh.quality_report().tables["platform"]
    meta = platform.filter(destination="meta").drop_nulls(["events", "platform_value"])
    assert meta.height > 0
    assert set(meta["platform_metric"]) == {"event_match_quality"}
    assert meta["local_score_stitched"].to_list() >= meta["local_score"].to_list()
    google = platform.filter(destination="google_ads")
    assert google["platform_value"].to_list() == [1.0]


def test_a_failing_read_back_is_recorded_and_never_raised(
    sent: tw.Warehouse, emulator: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh = sent
    dead = dataclasses.replace(wh.config.destinations["meta"], base_url="http://127.0.0.1:9/meta")
    wh.config = dataclasses.replace(
        wh.config, destinations={**wh.config.destinations, "meta": dead}
    )
    monkeypatch.delenv(wh.config.destinations["google_ads"].credential_envs()["access_token_env"])
    readings = {r.destination: r for r in wh.fetch_diagnostics()}
    assert readings["meta"].status == "failed" and "no answer" in readings["meta"].message
    assert readings["google_ads"].status == "skipped"
    runs = wh.sql("select destination, status, message from diagnostics_runs").rows()
    assert ("meta", "failed") in {(d, s) for d, s, _ in runs}
    assert all(TOKEN not in (m or "") for _, _, m in runs)


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (502, "<html><body>Bad gateway for access_token={token}</body></html>", "HTTP 502"),
        (200, "<html>login page {token}</html>", "not JSON"),
        (200, '{{"data": []}}', "no 'web' list"),
    ],
)
def test_odd_answers_from_a_proxy_are_recorded_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int, body: str, said: str
) -> None:
    import httpx

    monkeypatch.setenv("TRACKSTACK_META_TOKEN", TOKEN)
    config = load_config(ROOT / "trackstack.toml")
    config = dataclasses.replace(config, destinations={"meta": config.destinations["meta"]})
    answer = body.format(token=TOKEN).encode()
    transport = httpx.MockTransport(lambda request: httpx.Response(status, content=answer))
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        (reading,) = wh.fetch_diagnostics(transport=transport)
        runs = wh.sql("select status, message from diagnostics_runs").rows()
    assert reading.status == "failed" and said in reading.message
    assert TOKEN not in reading.message and runs == [("failed", reading.message)]
