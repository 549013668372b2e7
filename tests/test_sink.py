"""The HTTP sink against a real server process on loopback: each status code, auth,
CORS, quota, the seed 002 shape, landing durability, privacy and pickup by ingest."""

from __future__ import annotations

import gzip
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

import trackstack_wh as tw
from tests.sink_support import (
    ALLOWED_ORIGIN,
    FULL_IP_SECRET,
    KEY_ENV,
    OTHER_SECRET,
    PUBLISHABLE,
    SECRET,
    events,
    post,
    running_sink,
    server_headers,
    write_config,
)
from trackstack_lab.sink_process import SinkProcess
from trackstack_wh import cli
from trackstack_wh.sink.segments import OPEN_SUFFIX, SEGMENT_SUFFIX


@pytest.fixture(scope="module")
def sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkProcess]:
    with running_sink(tmp_path_factory.mktemp("sink")) as process:
        yield process


@pytest.fixture
def client(sink: SinkProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sink.base_url, timeout=10) as c:
        yield c


def landed_lines(landing: Path) -> list:
    """Every line of every segment (open or closed), in order, as JSON."""
    paths = sorted(landing.glob(f"*{SEGMENT_SUFFIX}*")) + sorted(
        (landing / "loaded").glob(f"*{SEGMENT_SUFFIX}")
    )
    return [orjson.loads(line) for p in paths for line in p.read_bytes().splitlines()]


def batch_lines(sink: SinkProcess, batch_id: str) -> tuple[dict, list]:
    """A batch's header and its event lines, as landed."""
    lines = landed_lines(sink.landing)
    at = next(i for i, x in enumerate(lines) if isinstance(x, dict) and
              x.get("_edgeBatch", {}).get("batchId") == batch_id)  # fmt: skip
    header = lines[at]["_edgeBatch"]
    return header, lines[at + 1 : at + 1 + header["events"]]


def test_batch_is_on_disk_when_acknowledged(client: httpx.Client, sink: SinkProcess) -> None:
    batch = events(3, prefix="ack") + [{"event": "Purchase", "eventId": "nested1",
        "userData": {"email": "n@acme.test"}, "customData": {"value": 9900, "currency": "USD",
        "transactionId": "t1"}}]  # fmt: skip
    response = post(client, {"events": batch, "sentAt": "2026-11-23T10:00:00Z"}, server_headers(
        **{"x-sdk-version": "1.4.2", "x-ts-domain": "app.example.com"}))  # fmt: skip
    assert response.status_code == 202
    body = response.json()
    assert body["accepted"] == 4 and body["batch_id"].startswith("eb_")
    header, lines = batch_lines(sink, body["batch_id"])
    assert header["events"] == 4 and header["project"] == "acme"
    assert header["keyKind"] == "secret" and header["sdkVersion"] == "1.4.2"
    assert header["origin"] == "app.example.com" and header["context"] == {
        "sentAt": "2026-11-23T10:00:00Z"
    }
    assert lines == batch  # as sent: ingest adds the batch's stamps from its header


def test_seed_002_single_event_with_project_key_in_the_body(
    client: httpx.Client, sink: SinkProcess
) -> None:
    event = {
        "projectKey": PUBLISHABLE,
        "event_name": "ButtonClick",
        "event_data": {"category": "CTA", "label": "Homepage Hero", "value": 1},
        "url": "https://app.example.com/pricing",
        "page_title": "Pricing",
        "userAgent": "Mozilla/5.0 (X11)",
        "sessionId": "s-1",
        "timestamp": "2025-08-02T14:19:12.000Z",
    }
    ok = client.post("/events", json=event, headers={"origin": ALLOWED_ORIGIN})
    assert ok.status_code == 202 and ok.json()["accepted"] == 1
    assert ok.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    _, [line] = batch_lines(sink, ok.json()["batch_id"])
    assert line["projectKey"] == "[redacted-key]"
    assert line["event_data"]["label"] == "Homepage Hero"
    assert line["clientIp"] == "127.0.0.0"  # a browser request's own IP, truncated

    elsewhere = client.post("/events", json={**event, "url": "https://evil.test/x"},
                            headers={"origin": ALLOWED_ORIGIN})  # fmt: skip
    assert elsewhere.status_code == 403 and elsewhere.json()["error"] == "url_not_allowed"
    wrong = client.post("/events", json={**event, "projectKey": "pk_unknown_0123456789"},
                        headers={"origin": ALLOWED_ORIGIN})  # fmt: skip
    assert wrong.status_code == 401 and wrong.json()["error"] == "unknown_key"


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({"content-type": "application/json"}, 401, "missing_key"),
        (server_headers("sk_not_a_real_key_000000"), 401, "unknown_key"),
        (server_headers(PUBLISHABLE), 403, "origin_required"),
        (server_headers(PUBLISHABLE, origin="https://evil.test"), 403, "origin_not_allowed"),
        (server_headers(PUBLISHABLE, **{"x-ts-domain": "evil.test"}), 403, "origin_not_allowed"),
        (server_headers(SECRET, origin=ALLOWED_ORIGIN), 403, "secret_key_in_browser"),
        (server_headers(SECRET, **{"x-ts-domain": "evil.test"}), 403, "domain_not_allowed"),
    ],
)
def test_auth_and_origin_refusals(
    client: httpx.Client, headers: dict[str, str], status: int, code: str
) -> None:
    response = post(client, {"events": events(1)}, headers)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert SECRET not in response.text and PUBLISHABLE not in response.text


def test_publishable_key_from_allowed_origins(client: httpx.Client) -> None:
    for origin in (ALLOWED_ORIGIN, "https://shop.acme.test:8443"):
        response = post(client, {"events": events(1)}, server_headers(PUBLISHABLE, origin=origin))
        assert response.status_code == 202
        assert response.headers["access-control-allow-origin"] == origin
    by_domain = post(client, {"events": events(1)},
                     server_headers(PUBLISHABLE, **{"x-ts-domain": "app.example.com"}))  # fmt: skip
    assert by_domain.status_code == 202


def test_cors_preflight_only_for_allowed_origins(client: httpx.Client) -> None:
    ask = {"access-control-request-method": "POST",
           "access-control-request-headers": "content-type,x-ts-key"}  # fmt: skip
    allowed = client.options("/events", headers={"origin": ALLOWED_ORIGIN, **ask})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "x-ts-key" in allowed.headers["access-control-allow-headers"]
    denied = client.options("/events", headers={"origin": "https://evil.test", **ask})
    assert denied.status_code == 403
    assert "access-control-allow-origin" not in denied.headers
    refused = post(client, "not json", server_headers(PUBLISHABLE, origin=ALLOWED_ORIGIN))
    assert refused.status_code == 400  # errors are readable by the browser too
    assert refused.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


def test_content_type_encoding_and_size(client: httpx.Client) -> None:
    body = orjson.dumps({"events": events(2, prefix="gz")})
    text = client.post("/events", content=body, headers={**server_headers(),
                       "content-type": "text/plain"})  # fmt: skip
    assert (text.status_code, text.json()["error"]) == (415, "unsupported_media_type")
    brotli = client.post("/events", content=body, headers={**server_headers(),
                         "content-encoding": "br"})  # fmt: skip
    assert (brotli.status_code, brotli.json()["error"]) == (415, "unsupported_encoding")
    zipped = client.post("/events", content=gzip.compress(body),
                         headers={**server_headers(), "content-encoding": "gzip"})  # fmt: skip
    assert zipped.status_code == 202 and zipped.json()["accepted"] == 2
    charset = client.post("/events", content=body, headers={**server_headers(),
                          "content-type": "application/json; charset=utf-8"})  # fmt: skip
    assert charset.status_code == 202

    big = post(client, {"events": events(1, pad="x" * 250_000)}, server_headers())
    assert (big.status_code, big.json()["error"]) == (413, "body_too_large")
    assert big.json()["limit"] == 200_000
    bomb = gzip.compress(orjson.dumps({"events": events(1, pad="y" * 400_000)}))
    inflated = client.post("/events", content=bomb,
                           headers={**server_headers(), "content-encoding": "gzip"})  # fmt: skip
    assert (inflated.status_code, inflated.json()["error"]) == (413, "body_too_large")
    many = post(client, {"events": events(51)}, server_headers())
    assert (many.status_code, many.json()["error"]) == (413, "too_many_events")
    assert many.json()["limit"] == 50


def test_invalid_json_reports_its_position(client: httpx.Client) -> None:
    response = client.post("/events", content=b'{"events": [{"event": "SignUp",}]}',
                           headers=server_headers())  # fmt: skip
    assert response.status_code == 400
    problem = response.json()
    assert problem["error"] == "invalid_json"
    assert (problem["line"], problem["column"]) == (1, problem["position"] + 1)
    assert 30 <= problem["position"] <= 33
    for body, code in ((b'{"events": {"a": 1}}', "invalid_body"), (b"42", "invalid_body"),
                       (b'{"hello": "world"}', "invalid_body")):  # fmt: skip
        shaped = client.post("/events", content=body, headers=server_headers())
        assert (shaped.status_code, shaped.json()["error"]) == (400, code)


def test_daily_quota_gives_429_with_retry_after(client: httpx.Client) -> None:
    tiny = server_headers(OTHER_SECRET)
    assert post(client, {"events": events(6, prefix="q")}, tiny).status_code == 202
    over = post(client, {"events": events(5, prefix="q2")}, tiny)
    assert over.status_code == 429
    problem = over.json()
    assert problem["error"] == "quota_exceeded" and problem["quota"] == 10
    assert problem["used"] == 6
    assert 0 < int(over.headers["retry-after"]) <= 86_400
    assert post(client, {"events": events(4, prefix="q3")}, tiny).status_code == 202
    # Other projects have their own quota.
    assert post(client, {"events": events(5, prefix="q4")}, server_headers()).status_code == 202


def test_keys_never_land_and_ips_follow_the_project_policy(
    client: httpx.Client, sink: SinkProcess
) -> None:
    batch = [{"event": "Lead", "eventId": "ip1", "email": "a@acme.test", "ip": "203.0.113.77",
              "projectKey": SECRET, "userData": {"clientIp": "2001:db8:1234:5678::1"}},
             {"event": "Lead", "eventId": "ip2", "note": f"pasted {SECRET} here"}]  # fmt: skip
    truncated = post(client, {"events": batch}, server_headers())
    _, lines = batch_lines(sink, truncated.json()["batch_id"])
    assert lines[0]["ip"] == "203.0.113.0"
    assert lines[0]["userData"]["clientIp"] == "2001:db8:1234::"
    assert "userAgent" not in lines[0]  # a server's own user agent is not the user's
    assert lines[1]["note"] == "pasted [redacted-key] here"
    full = post(client, {"events": [dict(batch[0], projectKey=None)]},
                server_headers(FULL_IP_SECRET))  # fmt: skip
    _, [kept] = batch_lines(sink, full.json()["batch_id"])
    assert kept["ip"] == "203.0.113.77"
    for path in sink.landing.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for key in (SECRET, PUBLISHABLE, OTHER_SECRET, FULL_IP_SECRET):
                assert key.encode() not in data, path
    assert SECRET not in sink.stderr_text()


def test_malformed_events_are_landed_and_quarantined_by_ingest(tmp_path: Path) -> None:
    config = write_config(tmp_path / "sink.toml")
    batch = events(2, prefix="good") + [
        17,
        "a string",
        {"eventId": "no-name"},
        {"event": "Purchase", "eventId": "p1", "value": "lots"},
        {"event": "SignUp", "eventId": "good0", "email": "user0@acme.test"},
    ]
    with SinkProcess(tmp_path / "landing", config, env=KEY_ENV) as sink:
        response = post(sink.client, {"events": batch}, server_headers())
        assert response.status_code == 202 and response.json()["accepted"] == 7
    assert not list((tmp_path / "landing").glob(f"*{OPEN_SUFFIX}"))  # closed on shutdown
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        report = wh.ingest_landing(tmp_path / "landing")
        assert report.totals() == {"rows_in": 7, "rows_valid": 2, "rows_quarantined": 4,
                                   "rows_duplicate": 1}  # fmt: skip
        reasons = wh.sql("select reason from quarantine order by line_no")["reason"].to_list()
        assert reasons[:2] == ["not_an_object", "not_an_object"]
        assert reasons[2:] == ["missing_required:event", "invalid_type:value"]
        assert wh.sql("select detail from quarantine")["detail"].str.contains("loaded/seg-").all()
        usage = wh.sink_usage("acme")  # project usage: stored events beside the sink's
        assert usage["sink_events"].to_list() == [7] and usage["requests"].to_list() == [1]
        assert usage["events"].to_list() == [2] == usage["http_events"].to_list()
        loaded = wh.sql("select event_id, project_id, edge_batch_id from events order by 1")
        assert loaded["project_id"].to_list() == ["acme", "acme"]
        assert set(loaded["edge_batch_id"]) == {response.json()["batch_id"]}


def test_pickup_loads_each_closed_segment_once(tmp_path: Path) -> None:
    config = write_config(tmp_path / "sink.toml", segment_max_bytes=1000)
    landing = tmp_path / "landing"
    with SinkProcess(landing, config, env=KEY_ENV) as sink:
        for i in range(6):
            assert post(sink.client, {"events": events(5, prefix=f"r{i}-")},
                        server_headers()).status_code == 202  # fmt: skip
        closed_while_running = sorted(landing.glob(f"*{SEGMENT_SUFFIX}"))
        assert len(closed_while_running) >= 2  # rotated by size
        with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
            first = wh.ingest_landing(landing)
        assert [f.status for f in first.files] == ["loaded"] * len(closed_while_running)
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        rest = wh.ingest_landing(landing)
        again = wh.ingest_landing(landing)
        assert again.files == []
        assert first.totals()["rows_in"] + rest.totals()["rows_in"] == 30
        assert wh.sql("select count(*) as n from events")["n"][0] == 30
        assert wh.sink_usage()["events"].sum() == 30
    assert not list(landing.glob(f"*{SEGMENT_SUFFIX}*"))
    assert len(list((landing / "loaded").iterdir())) == len(first.files) + len(rest.files)


def test_segments_close_by_age_and_metrics_show_the_lag(tmp_path: Path) -> None:
    config = write_config(tmp_path / "sink.toml", segment_max_age_seconds=0.3)
    with SinkProcess(tmp_path / "landing", config, env=KEY_ENV) as sink:
        assert post(sink.client, {"events": events(3)}, server_headers()).status_code == 202
        deadline = time.monotonic() + 5
        while not list((tmp_path / "landing").glob(f"*{SEGMENT_SUFFIX}")):
            assert time.monotonic() < deadline, "the segment was not closed by age"
            time.sleep(0.05)
        metrics = sink.client.get("/metrics")
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        values = dict(
            line.rsplit(" ", 1) for line in metrics.text.splitlines() if not line.startswith("#")
        )
        assert values["ts_sink_landing_segments_closed_total"] == "1"
        assert values["ts_sink_landing_pending_segments"] == "1"
        assert float(values["ts_sink_landing_lag_seconds"]) >= 0
        assert values['ts_sink_events_accepted_total{project="acme"}'] == "3"
        assert values['ts_sink_requests_total{status="202"}'] == "1"
        health = sink.client.get("/healthz")
        assert health.status_code == 200 and health.json()["status"] == "ok"


def test_a_quiet_sink_closes_its_segment_when_idle(tmp_path: Path) -> None:
    config = write_config(tmp_path / "sink.toml", segment_idle_seconds=0.3)  # max age 1 h
    landing = tmp_path / "landing"
    with SinkProcess(landing, config, env=KEY_ENV) as sink:
        assert post(sink.client, {"events": events(2)}, server_headers()).status_code == 202
        acknowledged = time.monotonic()
        while not list(landing.glob(f"*{SEGMENT_SUFFIX}")):  # no further request is sent
            assert time.monotonic() - acknowledged < 5, "the idle segment was not closed"
            time.sleep(0.05)
        assert not list(landing.glob(f"*{OPEN_SUFFIX}"))
        metrics = sink.client.get("/metrics").text
        while (
            "ts_sink_landing_segments_closed_total 1\n" not in metrics
        ):  # counted after the rename
            assert time.monotonic() - acknowledged < 5, metrics
            time.sleep(0.05)
            metrics = sink.client.get("/metrics").text
        assert "ts_sink_landing_open_segment_age_seconds 0\n" in metrics
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        assert wh.ingest_landing(landing).totals()["rows_valid"] == 2


def test_quota_survives_a_restart_and_a_second_sink_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path / "sink.toml")
    landing = tmp_path / "landing"
    with SinkProcess(landing, config, env=KEY_ENV) as sink:
        assert (
            post(sink.client, {"events": events(8)}, server_headers(OTHER_SECRET)).status_code
            == 202
        )
        with pytest.raises(Exception, match="in use by another sink"):
            SinkProcess(landing, config, env=KEY_ENV).start()
        sink.kill()
    with SinkProcess(landing, config, env=KEY_ENV) as sink:
        again = post(sink.client, {"events": events(3, prefix="x")}, server_headers(OTHER_SECRET))
        assert again.status_code == 429 and again.json()["used"] == 8


def test_missing_key_variable_stops_the_sink_naming_the_variable(tmp_path: Path) -> None:
    config = write_config(tmp_path / "sink.toml")
    env = {**KEY_ENV, "TS_TEST_OTHER": ""}
    with pytest.raises(Exception, match=r"\$TS_TEST_OTHER \(tiny secret key\) is not set") as err:
        SinkProcess(tmp_path / "landing", config, env=env).start()
    assert SECRET not in str(err.value)


def test_other_routes(client: httpx.Client) -> None:
    assert client.get("/nope").status_code == 404
    wrong = client.get("/events")
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST, OPTIONS"
    document = client.get("/openapi.json").json()
    assert "/events" in document["paths"]


def test_command_line_serve_and_ingest_landing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "sink.toml")
    landing = tmp_path / "landing"
    assert cli.main(["--config", str(config), "serve", "--landing", str(landing)]) == 2
    assert "$TS_TEST_SECRET (acme secret key) is not set" in capsys.readouterr().err
    with SinkProcess(landing, config, env=KEY_ENV) as sink:
        assert post(sink.client, {"events": events(4)}, server_headers()).status_code == 202
    db = str(tmp_path / "cli.duckdb")
    args = ["--db", db, "--config", str(config), "ingest", "--landing", str(landing), "--json"]
    assert cli.main(args) == 0
    assert orjson.loads(capsys.readouterr().out)["totals"]["rows_valid"] == 4
    assert cli.main(args) == 0
    assert orjson.loads(capsys.readouterr().out)["totals"]["rows_in"] == 0
    assert cli.main(["--db", db, "ingest"]) == 2


def test_identify_records_are_accepted_alone_and_in_batches_and_land_in_identities(
    tmp_path: Path,
) -> None:
    config = write_config(tmp_path / "sink.toml")
    identify = {"type": "identify", "userId": "u-1", "anonymousId": "anon-1", "messageId": "id-1",
                "traits": {"email": "ann@acme.test", "company": "Acme"}}  # fmt: skip
    with SinkProcess(tmp_path / "landing", config, env=KEY_ENV) as sink:
        alone = post(sink.client, identify, server_headers())
        assert alone.status_code == 202 and alone.json()["accepted"] == 1
        mixed = post(sink.client, {"events": [*events(1, prefix="ev"), identify]}, server_headers())
        assert mixed.status_code == 202 and mixed.json()["accepted"] == 2
        neither = post(sink.client, {"userId": "u-2"}, server_headers())
        assert neither.status_code == 400 and "identify" in neither.json()["message"]
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        report = wh.ingest_landing(tmp_path / "landing")
        assert report.totals() == {"rows_in": 3, "rows_valid": 2, "rows_quarantined": 0,
                                   "rows_duplicate": 1}  # fmt: skip
        assert sum(f.rows_identify for f in report.files) == 1
        assert wh.sql("select count(*) as n from events")["n"][0] == 1
        traits = wh.sql("select person_key, trait, value, project_id from identities order by 2")
        assert traits.rows() == [("u-1", "company", "Acme", "acme"),
                                 ("u-1", "email", "ann@acme.test", "acme")]  # fmt: skip
