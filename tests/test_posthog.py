"""PostHog: config, ``analytics_posthog`` rows (events, identify records, groups), the
project key on the wire only, answers, and exactly-once delivery to the emulator with
person merges and event counts that match the funnel report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines
from trackstack_lab.emulator import EmulatorProcess
from trackstack_wh.config import PostHogDestination, parse_config
from trackstack_wh.contract import EVENTS_BY_NAME
from trackstack_wh.delivery.responses import parse_response
from trackstack_wh.errors import ConfigError
from trackstack_wh.payloads.conformance import check_conformance

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
T = AS_OF - dt.timedelta(days=1)
KEY = "phc_Pr0ject-Key-value-42"
FAST = {"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "timeout_seconds": 2.0,
        "requests_per_second": 1000}  # fmt: skip

EVENTS = [
    event_line("PageView", "pv", T - dt.timedelta(hours=2), sessionId="sess-1",
               referrer="https://news.example.org/a", **WEB),
    event_line("SignUp", "signup", T - dt.timedelta(hours=1), email="Al@Acme.example",
               externalId="user-1", sessionId="sess-1", companyDomain="Acme.Example",
               companyName="Acme", plan="Growth", **WEB),
    event_line("Purchase", "purchase", T, email=" Buyer@Acme.example ", value=9900,
               currency="usd", transactionId="txn_1", plan="Growth"),
    event_line("StartTrial", "nobody", T, plan="Growth"),
    event_line("PageView", "nocurrency", T, externalId="user-2", value=500),
    event_line("PageView", "anon2", T - dt.timedelta(hours=3), sessionId="sess-2", **WEB),
    event_line("PageView", "known2", T, sessionId="sess-2", externalId="user-3", **WEB),
    event_line("PageView", "anon3", T, sessionId="sess-3", **WEB),
    event_line("PageView", "known3a", T, sessionId="sess-3", externalId="user-4", **WEB),
    event_line("PageView", "known3b", T, sessionId="sess-3", externalId="user-5", **WEB),
]  # fmt: skip
IDENTIFY = [
    {"type": "identify", "userId": "user-1", "anonymousId": "sess-1", "messageId": "idf-1",
     "traits": {"email": "al@acme.example", "plan": "Growth"}, "ts": T.isoformat()},
    {"type": "identify", "anonymousId": "sess-9", "messageId": "idf-anon",
     "traits": {"plan": "Free"}, "ts": T.isoformat()},
]  # fmt: skip
SETTINGS: dict[str, Any] = {
    "enabled": True,
    "project_api_key_env": "TS_POSTHOG_KEY",
    "company_group_type": "company",
}


def config(**settings: Any) -> Any:
    raw = {"workspace": {"value_unit": "minor"},
           "destinations": {"posthog": {**SETTINGS, **settings}}}  # fmt: skip
    return parse_config(raw)


def load(tmp: Path, cfg: Any) -> tw.Warehouse:
    path = write_lines(tmp / "events.ndjson", EVENTS)
    with path.open("a") as out:
        out.writelines(json.dumps(record) + "\n" for record in IDENTIFY)
    wh = tw.connect(tmp / "wh.duckdb", config=cfg)
    report = wh.ingest(path)
    assert report.files[0].rows_valid == len(EVENTS) + len(IDENTIFY)
    wh.build_payloads(as_of=AS_OF)
    return wh


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tw.Warehouse]:
    wh = load(tmp_path_factory.mktemp("posthog"), config())
    yield wh
    wh.close()


def rows(wh: tw.Warehouse) -> dict[str, dict[str, Any]]:
    out = {}
    for r in wh.payloads("posthog").iter_rows(named=True):
        r["body"] = json.loads(r["payload"]) if r["payload"] else None
        out[r["event_id"]] = r
    return out


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_settings_host_key_and_choices() -> None:
    dest = PostHogDestination.of(config().destinations["posthog"])
    assert dest.host == "https://us.i.posthog.com" and dest.person_profiles
    assert dest.credential_envs() == {"access_token_env": "TS_POSTHOG_KEY"}
    assert dest.secret_names() == ["TS_POSTHOG_KEY"]
    eu = PostHogDestination.of(config(host="https://eu.i.posthog.com").destinations["posthog"])
    assert eu.host == "https://eu.i.posthog.com"
    off = PostHogDestination.of(config(person_profiles=False).destinations["posthog"])
    assert off.person_profiles is False
    with pytest.raises(ConfigError, match="email_distinct_id"):
        config(email_distinct_id="md5")
    with pytest.raises(ConfigError, match="person_profiles"):
        config(person_profiles="yes")
    with pytest.raises(ConfigError, match="host"):
        config(host="ftp://posthog.example")


def test_event_rows_distinct_ids_uuids_and_properties(built: tw.Warehouse) -> None:
    got = rows(built)
    pv, signup, purchase = got["pv"]["body"], got["signup"]["body"], got["purchase"]["body"]
    assert pv["event"] == "$pageview" and pv["distinct_id"] == "sess-1"
    assert pv["properties"]["$current_url"] == WEB["pageUrl"]
    assert pv["properties"]["$referrer"] == "https://news.example.org/a"
    assert signup["event"] == "SignUp" and signup["distinct_id"] == "user-1"
    assert signup["properties"]["$groups"] == {"company": "acme.example"}
    assert signup["properties"]["plan"] == "Growth"
    assert purchase["distinct_id"] == sha("buyer@acme.example")
    assert purchase["properties"]["value"] == 99.0
    assert purchase["properties"]["currency"] == "USD"
    assert purchase["timestamp"] == "2026-10-27T12:00:00.000Z"
    for event_id in ("pv", "signup", "purchase"):
        row = got[event_id]
        assert uuid.UUID(row["body"]["uuid"]).version == 5
        assert row["dedup_key"] == row["body"]["uuid"] and row["request_kind"] == "event"
    assert len({got[e]["dedup_key"] for e in ("pv", "signup", "purchase")}) == 3
    session = built.sql("select session_id from events where event_id = 'nobody'").item()
    if session is None:  # no ID of any kind
        assert (got["nobody"]["status"], got["nobody"]["skip_reason"]) == (
            "skipped",
            "no_distinct_id",
        )
    else:  # a session ID generated at ingest is the visitor's anonymous ID
        assert got["nobody"]["body"]["distinct_id"] == session
    assert "value" not in got["nocurrency"]["body"]["properties"]
    assert got["nocurrency"]["warnings"] == ["value_dropped_missing_currency"]
    assert check_conformance(built.conn, "posthog").ok


def test_identify_records_become_identify_and_merge_the_session(built: tw.Warehouse) -> None:
    got = rows(built)
    identify = got["idf-1"]
    assert (identify["request_kind"], identify["platform_event_name"]) == ("identify", "$identify")
    body = identify["body"]
    assert body["event"] == "$identify" and body["distinct_id"] == "user-1"
    assert body["properties"]["$anon_distinct_id"] == "sess-1"
    assert body["properties"]["$set"] == {"email": "al@acme.example", "plan": "Growth"}
    assert identify["dedup_key"] == body["uuid"] and uuid.UUID(body["uuid"]).version == 5
    assert (got["idf-anon"]["status"], got["idf-anon"]["skip_reason"]) == ("skipped", "no_user_id")
    assert "merge:sess-1" not in got  # the identify record already merges it
    merge = got["merge:sess-2"]["body"]
    assert (merge["event"], merge["distinct_id"]) == ("$identify", "user-3")
    assert merge["properties"] == {"$anon_distinct_id": "sess-2", "$lib": "trackstack_wh"}
    shared = got["merge:sess-3"]
    assert (shared["status"], shared["skip_reason"]) == ("skipped", "ambiguous_session")
    group = got["group:company:acme.example"]["body"]
    assert group["event"] == "$groupidentify"
    assert group["properties"]["$group_key"] == "acme.example"
    assert group["properties"]["$group_set"] == {"name": "Acme", "domain": "acme.example"}


def test_a_second_build_adds_nothing_and_a_rebuild_is_identical(built: tw.Warehouse) -> None:
    before = built.payloads("posthog").drop("built_seq").sort("event_id")
    assert sum(r.inserted for r in built.build_payloads(as_of=AS_OF)) == 0
    built.build_payloads(as_of=AS_OF, rebuild=True)
    after = built.payloads("posthog").drop("built_seq").sort("event_id")
    assert after.equals(before)


def test_profile_rows_built_batch_by_batch_equal_a_whole_build(tmp_path: Path) -> None:
    """An incremental build reads only the sessions and companies its new events name:
    sess-2's identified view arrives in a later batch and is merged then. sess-3 was
    merged into its first user before a second one appeared: a row once built is not
    judged again (it may have been sent), where a whole build calls it ambiguous."""
    late = {"known2", "known3b", "signup"}
    batches = [[e for e in EVENTS if json.loads(e)["eventId"] not in late],
               [e for e in EVENTS if json.loads(e)["eventId"] in late]]  # fmt: skip
    with tw.connect(tmp_path / "inc.duckdb", config=config()) as inc:
        for n, lines in enumerate(batches):
            inc.ingest(write_lines(tmp_path / f"batch{n}.ndjson", lines))
            inc.build_payloads(as_of=AS_OF)
        got = inc.payloads("posthog").filter(request_kind="identify")
    with tw.connect(tmp_path / "whole.duckdb", config=config()) as whole:
        whole.ingest(write_lines(tmp_path / "all.ndjson", [e for b in batches for e in b]))
        whole.build_payloads(as_of=AS_OF)
        want = whole.payloads("posthog").filter(request_kind="identify")
    columns = ["event_id", "status", "skip_reason", "payload"]
    assert set(got["event_id"]) == {"merge:sess-1", "merge:sess-2", "merge:sess-3",
                                    "group:company:acme.example"}  # fmt: skip
    same = pl.col("event_id") != "merge:sess-3"
    got_same, want_same = (f.filter(same).select(columns).sort("event_id") for f in (got, want))
    assert got_same.equals(want_same)
    sess3 = {f["status"][0] for f in (got.filter(~same), want.filter(~same))}
    assert sess3 == {"ready", "skipped"}


def test_person_profiles_off_other_distinct_ids_and_the_allowlist(tmp_path: Path) -> None:
    cfg = config(
        person_profiles=False,
        email_distinct_id="plain",
        company_group_type="",
        events=["SignUp", "Purchase", "PageView"],
        event_names={"SignUp": "signed_up"},
    )
    with load(tmp_path, cfg) as wh:
        got = rows(wh)
        assert {r["request_kind"] for r in got.values()} == {"event"}
        assert "nobody" not in got  # StartTrial is not on the allowlist
        assert got["signup"]["body"]["event"] == "signed_up"
        purchase = got["purchase"]["body"]
        assert purchase["distinct_id"] == "buyer@acme.example"
        assert purchase["properties"]["$process_person_profile"] is False
        assert "$groups" not in got["signup"]["body"]["properties"]


def test_the_key_is_masked_in_previews_and_written_only_on_the_wire(
    built: tw.Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TS_POSTHOG_KEY", KEY)
    preview = built.preview("posthog")
    assert preview and all(r.body["api_key"] == "***" for r in preview)
    assert all(r.url == "https://us.i.posthog.com/batch/" for r in preview)
    assert KEY not in repr(preview) and KEY not in str([r.body for r in preview])
    seen: list[bytes] = []

    def platform(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        if request.url.path == "/flags/":
            return httpx.Response(200, json={"flags": {}})
        # A platform that quotes the key back in its refusal.
        return httpx.Response(400, json={"type": "validation_error", "code": "invalid_payload",
                                         "detail": f"bad batch for key {KEY}"})  # fmt: skip

    report = built.push("posthog", as_of=AS_OF, delivery={**FAST, "max_attempts": 1},
                        transport=httpx.MockTransport(platform))  # fmt: skip
    assert report["posthog"].rejected > 0
    assert seen and all(orjson.loads(body)["api_key"] == KEY for body in seen)
    stored = built.sql(
        "select coalesce(string_agg(t::varchar, ''), '') as s from delivery_log t"
    ).item()
    assert KEY not in stored and "***" in stored
    assert KEY not in str(report.to_dict())


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, b'{"status": 1}', None),
        (200, b'{"status": 1, "quota_limited": ["events"]}', "retryable"),
        (400, b'{"type": "validation_error", "code": "invalid_payload", "detail": "x"}', "split"),
        (401, b'{"type": "authentication_error", "code": "invalid_api_key", "detail": "x"}',
         "auth"),
        (413, b'{"type": "validation_error", "code": "payload_too_large", "detail": "x"}',
         "split"),
        (503, b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
         "retryable"),
        (429, b'{"type": "throttled"}', "rate_limited"),
    ],
)  # fmt: skip
def test_answers(status: int, body: bytes, expected: str | None) -> None:
    verdict = parse_response("posthog", "event", status, {}, body, ["{}", "{}"])
    if expected is None:
        assert verdict.request_failure is None and verdict.accepted == 2
    elif expected == "split":
        assert verdict.batch_invalid and not verdict.row_failures
    else:
        assert verdict.request_failure is not None
        assert verdict.request_failure.error_class == expected


# Against the emulator (integration: a server process).


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorProcess]:
    """This module's own emulator (the shared one would build the samples first)."""
    with EmulatorProcess(clock=AS_OF) as emu:
        yield emu


@pytest.fixture
def emu(emulator: EmulatorProcess) -> EmulatorProcess:
    emulator.reset()
    return emulator


def pointed(cfg: Any, emu: EmulatorProcess) -> Any:
    dest = dataclasses.replace(cfg.destinations["posthog"], base_url=emu.url_for("posthog"))
    return dataclasses.replace(cfg, destinations={**cfg.destinations, "posthog": dest})


def read(emu: EmulatorProcess, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Authorization": "Bearer phx_personal-key"}
    answer = httpx.request(method, emu.url_for("posthog") + path, headers=headers, **kwargs)
    assert answer.status_code == 200, answer.text
    return answer.json()


def event_counts(emu: EmulatorProcess) -> dict[str, int]:
    query = {"kind": "HogQLQuery", "query": "select event, count() from events group by event"}
    return dict(read(emu, "POST", "/api/projects/1/query/", json={"query": query})["results"])


def test_push_delivers_exactly_once_and_merges_the_session(
    tmp_path: Path, emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TS_POSTHOG_KEY", KEY)
    with load(tmp_path, pointed(config(), emu)) as wh:
        ready = wh.payloads("posthog").filter(status="ready")
        report = wh.push("posthog", as_of=AS_OF, delivery=FAST)
        assert report.ok and report["posthog"].delivered == ready.height
        assert wh.push("posthog", as_of=AS_OF, delivery=FAST)["posthog"].requests == 0
        records = emu.records("posthog")
        assert sorted(k.split(":", 1)[1] for k in records) == sorted(ready["dedup_key"])
        assert set(records.values()) == {1}
        assert wh.reconcile().ok
    person = read(emu, "GET", "/api/projects/1/persons/", params={"distinct_id": "sess-1"})
    [profile] = person["results"]
    assert profile["distinct_ids"] == ["sess-1", "user-1"]
    assert profile["properties"] == {"email": "al@acme.example", "plan": "Growth"}
    counts = event_counts(emu)
    assert counts.pop("StartTrial", 0) == int(ready.filter(event_id="nobody").height)
    assert counts == {"$pageview": 7, "SignUp": 1, "Purchase": 1, "$identify": 2,
                      "$groupidentify": 1}  # fmt: skip
    merged = read(emu, "GET", "/api/projects/1/persons/", params={"distinct_id": "user-3"})
    assert merged["results"][0]["distinct_ids"] == ["sess-2", "user-3"]


def test_the_emulator_drops_a_repeated_uuid_and_refuses_bad_batches(
    emu: EmulatorProcess,
) -> None:
    url = emu.url_for("posthog") + "/batch/"
    event = {"event": "SignUp", "distinct_id": "u1", "uuid": str(uuid.uuid4()),
             "timestamp": "2026-10-27T12:00:00Z"}  # fmt: skip
    for _ in range(2):
        assert httpx.post(url, json={"api_key": KEY, "batch": [event]}).json() == {"status": 1}
    assert emu.stats()["posthog"]["unique"] == 1 and event_counts(emu) == {"SignUp": 1}
    bad = httpx.post(url, json={"api_key": KEY, "batch": [{"event": "x"}]})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_payload"
    assert httpx.post(url, content=b"{not json").status_code == 400
    for key in ("invalid-key", "***", None):
        refused = httpx.post(url, json={"api_key": key, "batch": [event]})
        assert refused.status_code == 401 and refused.json()["code"] == "invalid_api_key"
    huge = b'{"api_key": "' + KEY.encode() + b'", "batch": [], "pad": "' + b"x" * 21_000_000
    assert httpx.post(url, content=huge + b'"}').status_code == 413
    emu.inject("posthog", "503")
    outage = httpx.post(url, json={"api_key": KEY, "batch": [event]})
    assert outage.status_code == 503 and outage.headers["content-type"] == "text/html"
    emu.inject("posthog", "throttle")
    limited = httpx.post(url, json={"api_key": KEY, "batch": [event]}).json()
    assert limited == {"status": 1, "quota_limited": ["events"]}


def test_a_503_page_is_retried_and_an_unknown_key_halts_before_any_row(
    tmp_path: Path, emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TS_POSTHOG_KEY", "invalid-project-key")
    with load(tmp_path, pointed(config(), emu)) as wh:
        refused = wh.push("posthog", as_of=AS_OF, delivery=FAST)["posthog"]
        assert refused.halted and refused.halted.startswith("auth: credential check invalid")
        assert refused.delivered == 0 and emu.stats()["posthog"]["requests"] == 0
        monkeypatch.setenv("TS_POSTHOG_KEY", KEY)
        emu.inject("posthog", "503", times=2)
        report = wh.push("posthog", as_of=AS_OF, delivery=FAST)
        assert report.ok and report["posthog"].retries >= 2
        stats = emu.stats()["posthog"]
        assert stats["duplicates"] == 0 and stats["unique"] == report["posthog"].delivered


def test_funnel_event_counts_match_posthog(
    tmp_path: Path, emu: EmulatorProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The funnel report's events per stage are the events PostHog counted, but for the
    ones that could not go (no distinct ID)."""
    monkeypatch.setenv("TS_POSTHOG_KEY", KEY)
    with load(tmp_path, pointed(config(), emu)) as wh:
        assert wh.push("posthog", as_of=AS_OF, delivery=FAST).ok
        funnel = wh.funnel().tables["totals"]
        skipped = (
            wh.payloads("posthog")
            .filter(request_kind="event", status="skipped")
            .join(wh.sql("select event_id, stage from events"), on="event_id")
            .group_by("stage")
            .len()
        )
    counted: dict[str, int] = {}
    for name, n in event_counts(emu).items():
        canonical = "PageView" if name == "$pageview" else name
        if not re.match(r"^\$", canonical):
            stage = EVENTS_BY_NAME[canonical].stage.value
            counted[stage] = counted.get(stage, 0) + n
    missing = dict(skipped.iter_rows())
    for row in funnel.iter_rows(named=True):
        assert row["events"] == counted.get(row["stage"], 0) + missing.get(row["stage"], 0), row
    assert sum(funnel["events"]) == pl.Series(list(counted.values())).sum() + sum(missing.values())
