"""``wh.trace`` / ``trackstack-wh trace``: one conversion end to end on the demo
warehouse (the committed samples, payloads built, pushed to the platform emulator served
in-process), by event ID, email and transaction ID; quarantined and duplicate records;
unknown IDs; the HTML rendering escaped and free of secrets."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

import trackstack_wh as tw
from tests.helpers import ROOT, WEB, event_line, write_lines
from trackstack_lab.emulator.app import create_app
from trackstack_lab.emulator.process import emulator_secrets
from trackstack_wh.cli import main
from trackstack_wh.config import EMULATOR_TARGET, IpPolicy, KeyKind
from trackstack_wh.destinations.routing import ROUTE_REASONS
from trackstack_wh.errors import NotFoundError, UsageError
from trackstack_wh.sink.batch import Envelope, batch_blob
from trackstack_wh.sink.body import parse_body
from trackstack_wh.sink.redact import KeyRedactor
from trackstack_wh.sink.segments import SEGMENT_SUFFIX
from trackstack_wh.trace import Trace

CONFIG = ROOT / "trackstack.toml"
SECRET = "EAABtraceS3cretT0kenXyZ"
"""A Meta access token that must never show in a trace."""


@pytest.fixture(scope="module")
def pushed(source: tuple[Path, dt.datetime], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo warehouse whose ready rows were pushed to the emulator (served
    in-process, booked under the ``emulator`` target), as ``trackstack-wh demo`` does."""
    db = tmp_path_factory.mktemp("pushed") / "pushed.duckdb"
    shutil.copy(source[0], db)
    clock = source[1]
    with tw.connect(db, config=CONFIG) as wh, tempfile.TemporaryDirectory() as keys:
        pointed = wh.config.pointed_at("http://emulator.test", target=EMULATOR_TARGET)
        wh.config = pointed.with_secrets(emulator_secrets(wh.config, Path(keys)))
        report = wh.push(as_of=clock, transport=httpx.ASGITransport(app=create_app(clock)))
        assert report.ok, report
    return db


@pytest.fixture
def wh(pushed: Path) -> Iterator[tw.Warehouse]:
    """The pushed demo warehouse, read-only (as the CLI opens it)."""
    with tw.connect(pushed, read_only=True, config=CONFIG) as warehouse:
        yield warehouse


def one(wh: tw.Warehouse, query: str, **params: object) -> str:
    value = wh.sql(query, **params).item()
    assert isinstance(value, str)
    return value


def latest_purchase(wh: tw.Warehouse) -> str:
    return one(
        wh,
        "select event_id from events where event_name = 'Purchase' and email is not null "
        "order by ts desc limit 1",
    )


def cli(db: Path, *args: str) -> int:
    return main(["--db", str(db), "--config", str(CONFIG), "trace", *args])


def test_a_purchase_is_traced_from_its_source_line_to_every_delivery(wh: tw.Warehouse) -> None:
    event_id = latest_purchase(wh)
    trace = wh.trace(event_id)
    (event,) = trace.events
    assert event.found_in == ["events"]
    assert event.source is not None
    uri, line_no = event.source["source_uri"], event.source["line_no"]
    assert event_id in Path(uri).read_text().splitlines()[line_no - 1]
    assert event.event is not None and event.event["event_name"] == "Purchase"
    assert event.quality is not None and event.quality["score"] > 0
    routes = dict(
        wh.sql(
            "select destination, reason from event_routes where event_id = $id", id=event_id
        ).iter_rows()
    )
    assert {d.destination for d in event.destinations} == set(routes)
    assert {d.name for d in wh.config.enabled()} == set(routes)
    for dest in event.destinations:
        assert dest.routed is (routes[dest.destination] is None), dest.destination
        if not dest.routed:
            assert dest.route_detail == ROUTE_REASONS[str(dest.route_reason)]
            continue
        stored = wh.payloads(dest.destination).filter(event_id=event_id)
        assert [p.request_kind for p in dest.payloads] == sorted(stored["request_kind"])
        for row in dest.payloads:
            element = stored.filter(request_kind=row.request_kind)["payload"].item()
            assert row.payload == json.loads(element)
            if row.status != "ready":
                continue
            assert row.attempts, (dest.destination, row.request_kind)
            last = row.attempts[-1]
            assert last["outcome"] in ("delivered", "superseded"), last
            assert last["target"] == EMULATOR_TARGET
            if last["outcome"] == "delivered":
                assert 200 <= last["http_status"] < 300
                assert last["latency_ms"] is not None
            buckets = {(b["target"], b["bucket"]) for b in row.reconciliation}
            assert (EMULATOR_TARGET, last["outcome"]) in buckets
            assert ("live", "never_attempted") in buckets
    assert any(p.attempts for d in event.destinations for p in d.payloads)
    text = trace.to_text()
    assert f"{uri}:{line_no}" in text
    assert "meta: routed as Purchase" in text
    assert "live -> emulator: delivered, HTTP 200" in text


def test_a_routing_decision_and_a_skip_reason_are_explained(wh: tw.Warehouse) -> None:
    event_id = one(
        wh,
        "select r.event_id from event_routes r join capi_meta m using (event_id) "
        "where r.destination = 'google_ads' and r.reason = 'not_in_allowlist' "
        "and m.skip_reason = 'too_old' order by r.event_id limit 1",
    )
    (event,) = wh.trace(event_id).events
    google = next(d for d in event.destinations if d.destination == "google_ads")
    assert (google.routed, google.route_reason) == (False, "not_in_allowlist")
    meta = next(d for d in event.destinations if d.destination == "meta")
    (row,) = meta.payloads
    assert (row.status, row.skip_reason, row.attempts) == ("skipped", "too_old", [])
    assert row.reconciliation[0]["bucket"] == "skipped"
    text = wh.trace(event_id).to_text()
    assert "google_ads: not routed: not_in_allowlist (the destination's events list" in text
    assert "skipped: too_old (older than the platform's age limit" in text


def test_json_from_the_command_line(pushed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with tw.connect(pushed, read_only=True, config=CONFIG) as wh:
        event_id = latest_purchase(wh)
    assert cli(pushed, event_id, "--json") == 0
    out, err = capsys.readouterr()
    assert err == ""
    found = json.loads(out)
    assert found["query"] == {"event_id": event_id}
    (event,) = found["events"]
    assert Path(event["source"]["source_uri"]).is_file()
    meta = next(d for d in event["destinations"] if d["destination"] == "meta")
    assert meta["routed"] is True
    (row,) = meta["payloads"]
    assert row["payload"]["event_id"] == event_id
    assert row["attempts"][0]["outcome"] == "delivered"
    assert cli(pushed, event_id) == 0
    assert "meta: routed as Purchase" in capsys.readouterr().out


def test_a_quarantined_record_gives_its_reasons_and_fix(
    pushed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with tw.connect(pushed, read_only=True, config=CONFIG) as wh:
        event_id = one(
            wh,
            "select json_extract_string(raw, '$.eventId') from quarantine "
            "where reason = 'unknown_event' order by line_no limit 1",
        )
        (event,) = wh.trace(event_id).events
    assert event.found_in == ["quarantine"]
    assert event.event is None and event.destinations == []
    (record,) = event.quarantine
    assert record["reasons"] == ["unknown_event"]
    assert Path(record["source_uri"]).is_file()
    assert f":{record['line_no']}: unknown_event:" in record["detail"]
    assert "fix: use a canonical name" in record["detail"]
    assert event_id in record["raw"]
    assert cli(pushed, event_id) == 0
    out = capsys.readouterr().out
    assert "not an event: only in quarantine" in out
    assert "fix: use a canonical name" in out


def test_a_duplicate_names_the_line_it_repeated(wh: tw.Warehouse) -> None:
    dup = wh.sql("select * from duplicates order by batch_id, line_no limit 1").to_dicts()[0]
    (event,) = wh.trace(dup["event_id"]).events
    assert event.found_in == ["events", "duplicates"]
    (record,) = event.duplicates
    assert (record["line_no"], record["first_line_no"]) == (dup["line_no"], dup["first_line_no"])
    assert event.source is not None and event.source["line_no"] == dup["first_line_no"]
    assert f"dropped as a copy of {record['first_source_uri']}:{dup['first_line_no']}" in (
        wh.trace(dup["event_id"]).to_text()
    )


def test_by_email_lists_the_persons_conversions_and_traces_the_latest(
    wh: tw.Warehouse, pushed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    purchase = latest_purchase(wh)
    email = one(wh, "select email from events where event_id = $id", id=purchase)
    trace = wh.trace(email=f"  {email.upper()} ")
    assert trace.query == {
        "email": email.lower(),
        "email_sha256": hashlib.sha256(email.lower().encode()).hexdigest(),
    }
    times = [m["ts"] for m in trace.matches]
    assert times == sorted(times, reverse=True) and len(times) > 1
    assert all(m["is_conversion"] for m in trace.matches)
    assert purchase in {m["event_id"] for m in trace.matches}
    assert [e.event_id for e in trace.events] == [trace.matches[0]["event_id"]]
    assert trace.matches[0]["outcomes"]
    everything = wh.trace(email=email, trace_all=True, limit=3)
    assert [e.event_id for e in everything.events] == [m["event_id"] for m in trace.matches[:3]]
    assert cli(pushed, "--email", email, "--limit", "2") == 0
    out = capsys.readouterr().out
    assert out.startswith(f"trace of email '{email.lower()}'")
    assert "2 event(s) found, most recent first:" in out


def test_by_email_finds_an_event_that_sent_the_email_hashed(
    source: tuple[Path, dt.datetime], tmp_path: Path
) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copy(source[0], db)
    email = "hashed.buyer@acme.example"
    digest = hashlib.sha256(email.encode()).hexdigest()
    at = source[1] - dt.timedelta(hours=2)
    lines = [event_line("SignUp", "evt_hashed_signup", at, email=digest, **WEB)]
    with tw.connect(db, config=CONFIG) as wh:
        wh.ingest(write_lines(tmp_path / "hashed.ndjson", lines))
        wh.refresh_quality()
        trace = wh.trace(email=email.upper())
    assert [m["event_id"] for m in trace.matches] == ["evt_hashed_signup"]
    assert trace.events[0].event is not None
    assert trace.events[0].event["email"] == digest


def test_by_transaction_id_traces_every_event_with_it(
    wh: tw.Warehouse, pushed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    transaction = one(
        wh,
        "select transaction_id from events where transaction_id is not null "
        "group by 1 having count(*) > 1 order by 1 limit 1",
    )
    expected = set(
        wh.sql("select event_id from events where transaction_id = $t", t=transaction)["event_id"]
    )
    trace = wh.trace(transaction_id=transaction)
    assert {m["event_id"] for m in trace.matches} == expected
    assert {e.event_id for e in trace.events} == expected
    assert all(e.source is not None for e in trace.events)
    assert cli(pushed, "--transaction-id", transaction, "--json") == 0
    found = json.loads(capsys.readouterr().out)
    assert {e["event_id"] for e in found["events"]} == expected


def test_an_event_routed_nowhere_says_why(source: tuple[Path, dt.datetime], tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    shutil.copy(source[0], db)
    web = {**WEB, "pageUrl": "https://elsewhere.test/checkout"}
    line = event_line("Purchase", "evt_elsewhere", source[1], email="a@acme.example",
                      value=900, currency="USD", transactionId="txn_elsewhere", **web)  # fmt: skip
    with tw.connect(db, config=CONFIG) as wh:
        wh.ingest(write_lines(tmp_path / "elsewhere.ndjson", [line]))
        trace = wh.trace("evt_elsewhere")
    (event,) = trace.events
    assert event.routed_nowhere() == "domain_not_allowed"
    assert all(d.payloads == [] for d in event.destinations)
    assert any("refresh_quality" in note for note in event.notes)
    assert "routed nowhere: domain_not_allowed" in trace.to_text()


def test_a_sink_event_names_its_segment_and_edge_batch(tmp_path: Path) -> None:
    body = orjson.dumps({"events": [{"event": "SignUp", "eventId": "evt_from_sink",
                                     "email": "sink@acme.example"}]})  # fmt: skip
    envelope = Envelope("eb_trace", "2026-11-23T10:00:00.000000Z", "acme", KeyKind.SECRET,
                        IpPolicy.TRUNCATE, None, "1.2.0", None, "server/1")  # fmt: skip
    landing = tmp_path / "landing"
    landing.mkdir()
    segment = landing / f"seg-20261123T100000000000Z-1-000001{SEGMENT_SUFFIX}"
    segment.write_bytes(batch_blob(parse_body(body), envelope, len(body), KeyRedactor([])))
    with tw.connect(tmp_path / "wh.duckdb", config=CONFIG) as wh:
        wh.ingest_landing(landing)
        trace = wh.trace("evt_from_sink")
    (event,) = trace.events
    assert event.source is not None and event.source["line_no"] == 2
    assert event.source["source_uri"].endswith(segment.name)
    edge = event.source["edge_batch"]
    assert (edge["batch_id"], edge["project_id"], edge["events"]) == ("eb_trace", "acme", 1)
    assert "edge batch  eb_trace project acme (secret key)" in trace.to_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["no-such-event"], "error: no event with ID 'no-such-event': searched events, "),
        (["--email", "nobody@nowhere.example"], "error: no event or quarantined record for "
         "email 'nobody@nowhere.example' (sha256 "),
        (["--transaction-id", "txn_none"], "error: no event or quarantined record with "
         "transaction ID 'txn_none': searched "),
    ],
)  # fmt: skip
def test_an_unknown_id_is_one_line_and_exit_2(
    pushed: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert cli(pushed, *args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(message)
    assert err.count("\n") == 1 and err.endswith("\n")


def test_bad_usage_is_exit_2(pushed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(pushed) == 2
    assert cli(pushed, "x", "--email", "a@b.example") == 2
    assert cli(pushed, "--email", "not-an-email") == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: give one of EVENT_ID, --email or --transaction-id",
        "error: give one of EVENT_ID, --email or --transaction-id",
        "error: 'not-an-email' is not an email address (invalid_email)",
    ]
    with tw.connect(pushed, read_only=True, config=CONFIG) as wh:
        with pytest.raises(NotFoundError):
            wh.trace("no-such-event")
        with pytest.raises(UsageError):
            wh.trace()


def test_html_escapes_values_and_holds_no_secret(
    pushed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKSTACK_META_TOKEN", SECRET)
    db = tmp_path / "wh.duckdb"
    shutil.copy(pushed, db)
    with tw.connect(db, config=CONFIG) as wh:
        event_id = latest_purchase(wh)
        wh.conn.execute(
            "update events set page_title = $title where event_id = $id",
            {"title": f'<script>alert("x")</script> {SECRET}', "id": event_id},
        )
        wh.conn.execute(  # as older versions stored a platform's echo, unmasked
            "update delivery_log set error_message = $message "
            "where event_id = $id and destination = 'meta'",
            {"message": f"Invalid OAuth access token - Cannot parse access token: {SECRET}",
             "id": event_id},
        )  # fmt: skip
        trace = wh.trace(event_id)
    page = trace._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "Cannot parse access token: ***" in page
    for rendering in (page, trace.to_text(), trace.to_json()):
        assert SECRET not in rendering
    assert isinstance(trace, Trace) and "***" in trace.to_text()
