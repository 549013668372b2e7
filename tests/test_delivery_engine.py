"""The delivery engine on ``httpx.MockTransport``: batching, splitting, retries, halts and
the delivery log, against scripted Meta answers (no server, no network; each test well
under a second)."""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
T = AS_OF - dt.timedelta(days=1)
N = 7
"""Ready Meta rows in the warehouse every test starts from."""
TOKEN_ENV = "TRACKSTACK_ENGINE_TEST_META_TOKEN"
TOKEN = "EAABengineS3cretTokenXyZ"
BASE_URL = "https://meta.mock.invalid"
TARGET = "mock"
FAST = {"retry_base_seconds": 0.001, "retry_max_seconds": 0.005, "timeout_seconds": 1.0,
        "requests_per_second": 10_000, "run_retry_base_seconds": 3600}  # fmt: skip
EVENT_IDS = [f"evt_{i:02d}" for i in range(N)]
CONFIG = f"""
[workspace]
value_unit = "minor"
phone_region = "US"

[destinations.meta]
enabled = true
pixel_id = "100000000000001"
access_token_env = "{TOKEN_ENV}"
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse with N ready Meta payload rows (built once, copied per test)."""
    root = tmp_path_factory.mktemp("engine")
    config = root / "trackstack.toml"
    config.write_text(CONFIG)
    events = [
        event_line("Purchase", event_id, T - dt.timedelta(minutes=i), email=f"p{i}@acme.example",
                   value=1000 + i, currency="USD", transactionId=f"txn_{i}", **WEB)
        for i, event_id in enumerate(EVENT_IDS)
    ]  # fmt: skip
    db = root / "source.duckdb"
    with tw.connect(db, config=config) as wh:
        wh.ingest(write_lines(root / "events.ndjson", events))
        wh.build_payloads(as_of=AS_OF)
        ready = wh.payloads("meta").filter(status="ready")
        assert sorted(ready["event_id"]) == EVENT_IDS
    return root


def open_copy(source: Path, tmp_path: Path, delivery: str = "") -> tw.Warehouse:
    """A fresh copy of the source warehouse whose Meta requests go to ``BASE_URL``, booked
    under the target ``mock`` (never ``live``); ``delivery`` is TOML for
    ``[destinations.meta.delivery]``."""
    db = tmp_path / "wh.duckdb"
    shutil.copy(source / "source.duckdb", db)
    config = tmp_path / "trackstack.toml"
    config.write_text(
        CONFIG + (f"\n[destinations.meta.delivery]\n{delivery}\n" if delivery else "")
    )
    wh = tw.connect(db, config=config)
    wh.config = wh.config.pointed_at(BASE_URL, target=TARGET)
    return wh


@pytest.fixture
def wh(source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tw.Warehouse]:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    with open_copy(source, tmp_path) as warehouse:
        yield warehouse


class Platform:
    """A scripted Meta: ``answer(request, rows)`` decides each response; every request's
    event IDs are kept in order."""

    def __init__(self, answer: Callable[[httpx.Request, list[str]], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[list[str]] = []
        self.urls: list[httpx.URL] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the credential check before the first row
            return httpx.Response(200, json={"id": request.url.path.rsplit("/", 1)[-1]})
        rows = [row["event_id"] for row in orjson.loads(request.content)["data"]]
        self.requests.append(rows)
        self.urls.append(request.url)
        return self.answer(request, rows)

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)

    def sent(self, event_id: str) -> int:
        return sum(rows.count(event_id) for rows in self.requests)


def accepted(request: httpx.Request, rows: list[str]) -> httpx.Response:
    return httpx.Response(200, json={"events_received": len(rows), "fbtrace_id": "TRACE1"})


def meta_error(status: int, code: int | None, message: str) -> httpx.Response:
    error = {"message": message, "type": "OAuthException", "fbtrace_id": "TRACE2"}
    if code is not None:
        error["code"] = code
    return httpx.Response(status, json={"error": error})


def refuse_connection() -> httpx.Response:
    raise httpx.ConnectError("connection refused")


def after(failures: int, failing: Callable[[], httpx.Response]) -> Callable[..., httpx.Response]:
    """The first ``failures`` requests get ``failing()`` (a raised exception propagates
    as a transport error), the rest are accepted."""
    calls = {"n": 0}

    def answer(request: httpx.Request, rows: list[str]) -> httpx.Response:
        calls["n"] += 1
        return failing() if calls["n"] <= failures else accepted(request, rows)

    return answer


def log(wh: tw.Warehouse) -> list[dict[str, Any]]:
    return wh.sql(
        "select event_id, attempt, outcome, http_status, error_class, error_code, "
        "error_message, target, mode, request_id, trace_id, retry_at from delivery_log "
        "where destination = 'meta' order by event_id, attempt"
    ).to_dicts()


def outcomes(wh: tw.Warehouse) -> dict[str, str]:
    return dict(wh.deliveries("meta").select("event_id", "outcome").iter_rows())


@pytest.mark.parametrize("batch_size", [1, 3, 7, 100])
def test_rows_go_out_in_batches_of_the_configured_size(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch_size: int
) -> None:
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    platform = Platform(accepted)
    with open_copy(source, tmp_path, f"batch_size = {batch_size}") as wh:
        report = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport)
        assert report.ok, report
        assert len(platform.requests) == math.ceil(N / batch_size)
        assert all(len(rows) <= batch_size for rows in platform.requests)
        assert sorted(e for rows in platform.requests for e in rows) == EVENT_IDS
        assert report["meta"].requests == len(platform.requests)
        assert report["meta"].delivered == report["meta"].platform_accepted == N
        requests = wh.sql("select rows, http_status, target from delivery_requests")
        assert sorted(requests["rows"]) == sorted(len(rows) for rows in platform.requests)
        assert set(requests["http_status"]) == {200} and set(requests["target"]) == {TARGET}
    # The credential goes in the query string (Meta), to the pointed-at URL only.
    assert {(u.host, u.params["access_token"]) for u in platform.urls} == {
        ("meta.mock.invalid", TOKEN)
    }


def test_the_log_books_each_row_once_and_a_second_push_sends_nothing(wh: tw.Warehouse) -> None:
    platform = Platform(accepted)
    report = wh.push(as_of=AS_OF, delivery={**FAST, "batch_size": 3},
                     transport=platform.transport)  # fmt: skip
    assert report.ok and report["meta"].target == TARGET
    rows = log(wh)
    assert [r["event_id"] for r in rows] == EVENT_IDS
    assert {(r["attempt"], r["outcome"], r["http_status"], r["target"], r["mode"], r["trace_id"])
            for r in rows} == {(1, "delivered", 200, TARGET, "live", "TRACE1")}  # fmt: skip
    assert all(r["error_class"] is None and r["retry_at"] is None for r in rows)
    # Each log row points at the request that carried it.
    requests = wh.sql("select request_id, rows from delivery_requests").iter_rows()
    per_request = {r["request_id"]: 0 for r in rows}
    for r in rows:
        per_request[r["request_id"]] += 1
    assert per_request == dict(requests)
    status = wh.deliveries()
    assert status.height == N and set(status["outcome"]) == {"delivered"}
    assert set(status["target"]) == {TARGET}

    again = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport)
    assert again["meta"].pending == again["meta"].requests == 0
    assert len(platform.requests) == 3  # nothing more went out
    assert wh.sql("select count(*) as n from delivery_log")["n"][0] == N


def test_a_payload_too_large_answer_splits_the_batch_until_it_fits(wh: tw.Warehouse) -> None:
    def answer(request: httpx.Request, rows: list[str]) -> httpx.Response:
        if len(rows) > 2:
            return meta_error(413, None, "Request Entity Too Large")
        return accepted(request, rows)

    platform = Platform(answer)
    report = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport)
    assert report.ok, report
    assert platform.requests[0] == EVENT_IDS  # one full batch first, refused
    # Halved until each part fits: 7 -> 3 (-> 1 + 2) + 4 (-> 2 + 2).
    assert [len(rows) for rows in platform.requests] == [7, 3, 1, 2, 4, 2, 2]
    assert report["meta"].splits == 3
    delivered = [rows for rows in platform.requests if len(rows) <= 2]
    assert sorted(e for rows in delivered for e in rows) == EVENT_IDS  # each delivered once
    assert outcomes(wh) == dict.fromkeys(EVENT_IDS, "delivered")
    resent = wh.sql(
        "select distinct error_class, http_status from delivery_log "
        "where outcome = 'retry_scheduled'"
    ).rows()
    assert resent == [("batch_rejected", 413)]


def test_a_bad_row_is_isolated_and_rejected_without_retries(wh: tw.Warehouse) -> None:
    bad = EVENT_IDS[4]

    def answer(request: httpx.Request, rows: list[str]) -> httpx.Response:
        if bad in rows:
            return meta_error(400, 100, "Invalid parameter")
        return accepted(request, rows)

    platform = Platform(answer)
    report = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport)
    assert report["meta"].rejected == 1 and report["meta"].delivered == N - 1
    assert report["meta"].failed == 0 and report["meta"].retries == 0
    assert outcomes(wh) == {e: "rejected" if e == bad else "delivered" for e in EVENT_IDS}
    assert [rows for rows in platform.requests if rows == [bad]] == [[bad]]  # alone, once
    final = [r for r in log(wh) if r["event_id"] == bad][-1]
    assert (final["outcome"], final["http_status"], final["error_class"], final["error_code"]) == (
        "rejected", 400, "permanent", "100"
    )  # fmt: skip
    assert final["retry_at"] is None


def test_a_400_is_rejected_and_never_retried(wh: tw.Warehouse) -> None:
    platform = Platform(lambda request, rows: meta_error(400, 100, "Invalid parameter"))
    report = wh.push(as_of=AS_OF, delivery={**FAST, "batch_size": 1},
                     transport=platform.transport)  # fmt: skip
    assert len(platform.requests) == N and all(platform.sent(e) == 1 for e in EVENT_IDS)
    assert report["meta"].rejected == N and report["meta"].retries == 0
    assert {(r["attempt"], r["outcome"], r["http_status"]) for r in log(wh)} == {
        (1, "rejected", 400)
    }
    again = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport)
    assert again["meta"].requests == 0 and len(platform.requests) == N


TRANSIENT: dict[str, tuple[Callable[[], httpx.Response], int | None, str]] = {
    "429": (lambda: meta_error(429, 4, "Application request limit reached"), 429, "rate_limited"),
    "500": (lambda: httpx.Response(500, json={"error": {"message": "oops"}}), 500, "retryable"),
    "503": (lambda: httpx.Response(503), 503, "retryable"),
    "html_502": (
        lambda: httpx.Response(
            502,
            headers={"content-type": "text/html"},
            content=b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>",
        ),
        502,
        "retryable",
    ),
    "connection_error": (
        refuse_connection,
        None,
        "retryable",
    ),
}


@pytest.mark.parametrize("fault", sorted(TRANSIENT))
def test_transient_answers_are_retried_then_delivered(wh: tw.Warehouse, fault: str) -> None:
    failing, status, error_class = TRANSIENT[fault]
    platform = Platform(after(2, failing))
    report = wh.push(as_of=AS_OF, delivery={**FAST, "max_attempts": 5},
                     transport=platform.transport)  # fmt: skip
    assert report.ok, report
    assert len(platform.requests) == 3 and platform.requests[0] == platform.requests[2]
    assert report["meta"].retries == 2 and report["meta"].delivered == N
    for event_id in EVENT_IDS:
        rows = [r for r in log(wh) if r["event_id"] == event_id]
        assert [(r["attempt"], r["outcome"], r["http_status"], r["error_class"]) for r in rows] == [
            (1, "retry_scheduled", status, error_class),
            (2, "retry_scheduled", status, error_class),
            (3, "delivered", 200, None),
        ]
    if fault == "html_502":  # the proxy's page is kept, as text, as the reason
        assert "502 Bad Gateway" in log(wh)[0]["error_message"]


def test_retries_run_out_and_the_rows_fail_until_retried(wh: tw.Warehouse) -> None:
    platform = Platform(lambda request, rows: httpx.Response(503, text="unavailable"))
    report = wh.push(as_of=AS_OF, delivery={**FAST, "max_attempts": 3},
                     transport=platform.transport)  # fmt: skip
    assert not report.ok and report["meta"].failed == N and report["meta"].delivered == 0
    assert len(platform.requests) == 3 and report["meta"].retries == 2
    assert outcomes(wh) == dict.fromkeys(EVENT_IDS, "failed")
    last = [r for r in log(wh) if r["outcome"] == "failed"]
    assert {(r["attempt"], r["http_status"], r["error_class"]) for r in last} == {
        (3, 503, "retryable")
    }
    assert all(r["retry_at"] > dt.datetime.now(dt.UTC) for r in last)  # a later run's turn

    # Not due yet: a plain push leaves them; retry_failed sends them now.
    recovered = Platform(accepted)
    assert wh.push(as_of=AS_OF, delivery=FAST, transport=recovered.transport)["meta"].requests == 0
    report = wh.push(as_of=AS_OF, delivery=FAST, retry_failed=True, transport=recovered.transport)
    assert report.ok and report["meta"].delivered == N and len(recovered.requests) == 1
    assert outcomes(wh) == dict.fromkeys(EVENT_IDS, "delivered")
    assert {r["attempt"] for r in log(wh) if r["outcome"] == "delivered"} == {4}


def test_an_expired_token_halts_the_destination_and_masks_the_echoed_token(
    wh: tw.Warehouse,
) -> None:
    echo = f"Error validating access token: Session has expired. Cannot parse {TOKEN}"
    platform = Platform(lambda request, rows: meta_error(401, 190, echo))
    report = wh.push(as_of=AS_OF, delivery={**FAST, "batch_size": 2, "concurrency": 1},
                     transport=platform.transport)  # fmt: skip
    meta = report["meta"]
    assert len(platform.requests) == 1 and meta.retries == 0  # auth is never retried
    assert meta.halted is not None and meta.halted.startswith("auth: ")
    assert meta.failed == 2 and meta.not_sent == N - 2
    first = platform.requests[0]
    assert outcomes(wh) == dict.fromkeys(first, "failed")  # the rest: no log row at all
    stored = log(wh)
    assert {
        (r["outcome"], r["http_status"], r["error_class"], r["error_code"]) for r in stored
    } == {("failed", 401, "auth", "190")}
    assert all("***" in r["error_message"] for r in stored)
    texts = wh.sql(
        "select error_message as t from delivery_log union all select error_code from "
        "delivery_log union all select error_code from delivery_requests"
    )["t"]
    assert not [t for t in texts if t and TOKEN in t]
    assert TOKEN not in repr(report) and TOKEN not in meta.halted

    # Token fixed: the rows never sent go out; the failed ones wait for their retry.
    fixed = Platform(accepted)
    report = wh.push(as_of=AS_OF, delivery=FAST, transport=fixed.transport)
    assert report["meta"].delivered == N - 2
    assert sorted(e for rows in fixed.requests for e in rows) == sorted(set(EVENT_IDS) - set(first))


class Checked(Platform):
    """A scripted Meta whose credential check (the GET before the first row) gets
    ``check``; the GETs are counted apart from the rows' requests."""

    def __init__(self, check: httpx.Response) -> None:
        super().__init__(accepted)
        self.check, self.checks = check, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            self.checks += 1
            return self.check
        return super().__call__(request)


def test_a_destination_whose_credential_check_fails_sends_no_row(wh: tw.Warehouse) -> None:
    expired = meta_error(401, 190, f"Error validating access token: Session has expired {TOKEN}")
    expired_doc = orjson.loads(expired.content)
    expired_doc["error"]["error_subcode"] = 463
    platform = Checked(httpx.Response(401, json=expired_doc))
    report = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport)
    meta = report["meta"]
    assert platform.checks == 1 and platform.requests == []
    assert meta.halted is not None and meta.halted.startswith("auth: credential check expired")
    assert "fix: generate a new access token and set " + TOKEN_ENV in meta.halted
    assert TOKEN not in meta.halted and not report.ok
    assert (meta.pending, meta.not_sent, meta.requests) == (N, N, 0)
    assert wh.sql("select count(*) as n from delivery_log")["n"][0] == 0  # all still pending

    # A dry run sends nothing, the check included; a good token sends every row.
    dry = Checked(httpx.Response(500))
    assert wh.push(as_of=AS_OF, dry_run=True, transport=dry.transport)["meta"].dry_run_rows == N
    assert dry.checks == 0
    fixed = Checked(httpx.Response(200, json={"id": "100000000000001"}))
    assert wh.push(as_of=AS_OF, delivery=FAST, transport=fixed.transport)["meta"].delivered == N
    assert fixed.checks == 1 and fixed.urls[0].params["access_token"] == TOKEN
