"""The sink against a hostile sender: deep nesting, gzip members, lone surrogates, stalled
bodies, keys hidden in JSON escapes, too many connections and a fault inside the app.
Server tests run a real sink process on loopback (the ``live_sink`` fixture marks them
integration); the functions behind them are checked without a server first."""

from __future__ import annotations

import gzip
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests.sink_support import (
    ALLOWED_ORIGIN,
    FULL_IP_SECRET,
    KEY_ENV,
    OTHER_SECRET,
    PUBLISHABLE,
    SECRET,
    events,
    running_sink,
    server_headers,
    write_config,
)
from trackstack_lab.sink_process import SinkProcess
from trackstack_wh.config import parse_config
from trackstack_wh.errors import ConfigError
from trackstack_wh.sink.auth import Refusal
from trackstack_wh.sink.body import nesting_depth
from trackstack_wh.sink.intake import MAX_GZIP_MEMBERS, inflate_gzip
from trackstack_wh.sink.redact import KeyRedactor
from trackstack_wh.sink.segments import SEGMENT_SUFFIX

BODY_TIMEOUT = 1.0
KEYS = (SECRET, PUBLISHABLE, OTHER_SECRET, FULL_IP_SECRET)
DEEP = b"[" * 1000 + b"]" * 1000


def escaped(text: str, *, every: int = 1, upper: bool = False) -> str:
    """``text`` as JSON string content with every ``every``-th character a \\u escape."""
    out = []
    for i, char in enumerate(text):
        code = f"{ord(char):04x}"
        out.append(f"\\u{code.upper() if upper and i % 2 else code}" if i % every == 0 else char)
    return "".join(out)


@pytest.mark.parametrize(
    ("body", "depth"),
    [
        (b"42", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (DEEP, 1000),
        (b"[" * 70, 70),  # cut short: still as deep as it got
        (b'{"a": "[[[[{{{{"}', 1),  # brackets in strings do not count
        (b'{"a": "]]]]", "b": [[[]]]}', 4),  # ... nor hide real ones
        (b'["\\"[[[", ["\\\\", ["\\\\\\"]]]"]]]', 3),  # escaped quotes and backslashes
        (b'["a""b"]', 1),
        (b'["]", "[", [["]"]]]', 3),
    ],
)
def test_nesting_depth_counts_brackets_outside_strings(body: bytes, depth: int) -> None:
    assert nesting_depth(body) == depth


def test_a_gzip_body_is_read_member_by_member() -> None:
    first, second = b'{"events": [{"event": "A"},', b' {"event": "B"}]}'
    whole = first + second
    assert inflate_gzip(gzip.compress(first) + gzip.compress(second), 1000) == whole
    assert inflate_gzip(gzip.compress(whole) + b"\0" * 8, 1000) == whole  # zero padding
    with pytest.raises(Refusal, match="larger than 40 bytes") as err:
        inflate_gzip(gzip.compress(whole[:30]) + gzip.compress(whole[30:]), 40)
    assert err.value.status == 413
    for bad, problem in [
        (gzip.compress(whole)[:-9], "truncated"),
        (gzip.compress(whole) + b"junk" * 8, "gzip member 2 of the body cannot be read"),
        (gzip.compress(b"") * (MAX_GZIP_MEMBERS + 1), f"more than {MAX_GZIP_MEMBERS} members"),
    ]:
        with pytest.raises(Refusal, match=problem) as err:
            inflate_gzip(bad, 1000)
        assert (err.value.status, err.value.code) == (400, "invalid_gzip")


def test_keys_are_redacted_in_any_json_escaping() -> None:
    redact = KeyRedactor(k.encode() for k in KEYS)
    hidden = [
        SECRET,
        escaped(SECRET, every=40),  # the first character only: \u0073k_test...
        escaped(SECRET, upper=True),  # every character, hex digits in mixed case
        escaped(PUBLISHABLE, every=3),
        "\\" + escaped(OTHER_SECRET, every=40),  # \\u0073...: the text \u0073... once decoded
    ]
    items = ", ".join(f'{{"n": {i}, "v": "x{text}y"}}' for i, text in enumerate(hidden))
    body = f'{{"events": [{items}]}}'.encode()
    landed = orjson.loads(redact(body))
    assert [e["v"] for e in landed["events"]] == ["x[redacted-key]y"] * len(hidden)
    untouched = b'{"v": "\\u00e9\\u0041 sk_test_0123456789abcdefSECRE \\\\u0073"}'
    assert redact(untouched) == untouched


def test_sink_config_has_hostile_sender_limits() -> None:
    sink = parse_config({"sink": {"max_depth": 8, "body_timeout_seconds": 2.5}}).sink
    assert (sink.max_depth, sink.body_timeout_seconds, sink.max_connections) == (8, 2.5, 1000)
    with pytest.raises(ConfigError, match="sink.max_connections must be a positive number"):
        parse_config({"sink": {"max_connections": 0}})


@pytest.fixture(scope="module")
def live_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkProcess]:
    root = tmp_path_factory.mktemp("hostile")
    with running_sink(root, body_timeout_seconds=BODY_TIMEOUT) as process:
        yield process


@pytest.fixture
def client(live_sink: SinkProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live_sink.base_url, timeout=10) as c:
        yield c


def counter(sink: SinkProcess, name: str) -> float:
    """One sample of /metrics (0 when the series has no sample yet)."""
    for line in sink.client.get("/metrics").text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def refused(reason: str) -> str:
    return f'ts_sink_rejected_requests_total{{reason="{reason}"}}'


def landed_events(sink: SinkProcess, batch_id: str) -> list[dict]:
    """The event lines of one landed batch, decoded."""
    lines = [
        orjson.loads(line)
        for path in sorted(sink.landing.glob(f"*{SEGMENT_SUFFIX}*"))
        for line in path.read_bytes().splitlines()
    ]
    at = next(i for i, x in enumerate(lines) if x.get("_edgeBatch", {}).get("batchId") == batch_id)
    return lines[at + 1 : at + 1 + lines[at]["_edgeBatch"]["events"]]


def test_deep_nesting_is_a_400_with_or_without_a_key(
    client: httpx.Client, live_sink: SinkProcess
) -> None:
    before = counter(live_sink, refused("too_deep"))
    masked = b'{"events": [' + b'"]]]]]]]]", ' * 100 + DEEP + b"]}"  # strings that hide depth
    for body, headers in [
        (b'{"events": [' + DEEP + b"]}", server_headers()),
        (DEEP, {"content-type": "application/json"}),  # no key at all
        (masked, server_headers()),
        (gzip.compress(DEEP), {**server_headers(), "content-encoding": "gzip"}),
    ]:
        response = client.post("/events", content=body, headers=headers)
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/json"
        problem = response.json()
        assert (problem["error"], problem["limit"]) == ("too_deep", 64)
        assert problem["depth"] >= 1000
    assert counter(live_sink, refused("too_deep")) == before + 4
    stderr = live_sink.stderr_text()
    assert "Traceback" not in stderr and "RecursionError" not in stderr


def test_the_depth_limit_counts_every_level_of_the_body(client: httpx.Client) -> None:
    def event_nested(levels: int) -> bytes:  # {"events": [{...}]} is 3 levels already
        return b'{"events": [{"event": "SignUp", "eventId": "deep%d", "x": %s}]}' % (
            levels,
            b"[" * (levels - 3) + b"]" * (levels - 3),
        )

    at_limit = client.post("/events", content=event_nested(64), headers=server_headers())
    assert at_limit.status_code == 202 and at_limit.json()["accepted"] == 1
    over = client.post("/events", content=event_nested(65), headers=server_headers())
    assert (over.status_code, over.json()["error"], over.json()["depth"]) == (400, "too_deep", 65)
    brackets_in_text = {"events": events(1, prefix="text", note="[" * 500 + "{" * 500)}
    assert (
        client.post("/events", json=brackets_in_text, headers=server_headers()).status_code == 202
    )


def test_every_gzip_member_is_read(client: httpx.Client, live_sink: SinkProcess) -> None:
    body = orjson.dumps({"events": events(10, prefix="member-")})
    half = len(body) // 2
    zipped = {**server_headers(), "content-encoding": "gzip"}
    two = client.post(
        "/events", content=gzip.compress(body[:half]) + gzip.compress(body[half:]), headers=zipped
    )
    assert two.status_code == 202 and two.json()["accepted"] == 10
    landed = landed_events(live_sink, two.json()["batch_id"])
    assert [e["eventId"] for e in landed] == [f"member-{i}" for i in range(10)]

    big = orjson.dumps({"events": events(1, pad="z" * 150_000)})
    bomb = gzip.compress(big[:-2] + b",") + gzip.compress(big[1:])  # 300 KB inflated
    over = client.post("/events", content=bomb, headers=zipped)
    assert (over.status_code, over.json()["error"]) == (413, "body_too_large")

    cut = client.post("/events", content=gzip.compress(body)[:-12], headers=zipped)
    assert (cut.status_code, cut.json()["error"]) == (400, "invalid_gzip")
    assert "truncated" in cut.json()["message"]
    trailing = client.post("/events", content=gzip.compress(body) + b"not gzip", headers=zipped)
    assert (trailing.status_code, trailing.json()["error"]) == (400, "invalid_gzip")
    assert "gzip member 2" in trailing.json()["message"]


@pytest.mark.parametrize(
    ("escape", "rule"),
    [("\\ud800", "must be followed by a low one"), ("\\uDC00", "must follow a high one")],
)
def test_a_lone_surrogate_escape_gets_an_accurate_400(
    client: httpx.Client, escape: str, rule: str
) -> None:
    body = b'{"events": [\n  {"event": "SignUp", "name": "a%sb"}\n]}' % escape.encode()
    response = client.post("/events", content=body, headers=server_headers())
    assert response.status_code == 400
    problem = response.json()
    assert problem["error"] == "invalid_json"
    assert "lone UTF-16 surrogate escape" in problem["message"] and rule in problem["message"]
    assert "truncated" not in problem["message"]
    assert (problem["line"], problem["position"]) == (2, body.index(escape.encode()))
    assert problem["column"] == body.index(escape.encode()) - body.index(b"\n")
    pair = body.replace(escape.encode(), b"\\ud83d\\ude00")
    assert client.post("/events", content=pair, headers=server_headers()).status_code == 202


def test_a_stalled_body_gets_408_and_the_connection_is_closed(live_sink: SinkProcess) -> None:
    before = counter(live_sink, refused("body_timeout"))
    address = urlsplit(live_sink.base_url)
    head = (
        f"POST /events HTTP/1.1\r\nhost: {address.netloc}\r\ncontent-type: application/json\r\n"
        f"x-ts-key: {SECRET}\r\ncontent-length: 1000\r\n\r\n"
    )
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        started = time.monotonic()
        conn.sendall(head.encode() + b'{"events":')  # 10 of the 1,000 bytes promised
        answer = b""
        while chunk := conn.recv(65536):  # until the sink closes the connection
            answer += chunk
        waited = time.monotonic() - started
    assert BODY_TIMEOUT * 0.9 <= waited < BODY_TIMEOUT + 5
    head_out, _, body_out = answer.partition(b"\r\n\r\n")
    assert head_out.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in head_out.lower()
    problem = orjson.loads(body_out)
    assert (problem["error"], problem["received"]) == ("body_timeout", 10)
    assert counter(live_sink, refused("body_timeout")) == before + 1
    assert counter(live_sink, 'ts_sink_requests_total{status="408"}') >= 1


def test_keys_never_land_in_any_json_escaping(client: httpx.Client, live_sink: SinkProcess) -> None:
    own = [
        {"eventId": "own-first", "note": escaped(SECRET, every=40)},
        {"eventId": "own-all", "note": escaped(SECRET, upper=True)},
        {"eventId": "own-double", "projectKey": "\\" + escaped(SECRET, every=40)},
        {"eventId": "other-project", "note": escaped(OTHER_SECRET, every=5)},
    ]
    from_server = _raw_batch(own)
    by_server = client.post("/events", content=from_server, headers=server_headers())
    assert by_server.status_code == 202
    secret_in_browser_batch = [
        {"eventId": "secret-plain", "note": f"leaked {SECRET}"},
        {"eventId": "secret-escaped", "note": escaped(SECRET, every=7)},
        {"eventId": "own-escaped", "note": escaped(PUBLISHABLE, every=2, upper=True)},
    ]
    by_browser = client.post(
        "/events",
        content=_raw_batch(secret_in_browser_batch),
        headers=server_headers(PUBLISHABLE, origin=ALLOWED_ORIGIN),
    )
    assert by_browser.status_code == 202
    for response in (by_server, by_browser):
        for event in landed_events(live_sink, response.json()["batch_id"]):
            text = event.get("note") or event.get("projectKey")
            assert "[redacted-key]" in text and "\\" not in text, event
    segments = list(live_sink.landing.glob(f"*{SEGMENT_SUFFIX}*"))
    assert segments
    for path in segments:
        raw = path.read_bytes()
        decoded = b"\n".join(orjson.dumps(orjson.loads(line)) for line in raw.splitlines())
        for key in KEYS:
            for form in (key, key[1:], key[:-1]):
                assert form.encode() not in raw and form.encode() not in decoded, (path, form)


def _raw_batch(items: list[dict[str, str]]) -> bytes:
    """A batch whose string values are written exactly as given (escapes kept)."""
    written = [
        "{" + ", ".join(f'"{k}": "{v}"' for k, v in {"event": "Lead", **item}.items()) + "}"
        for item in items
    ]
    return ('{"events": [' + ", ".join(written) + "]}").encode()


# The sink process loads this as its sitecustomize (via PYTHONPATH): landing a batch that
# holds the marker fails the way a bug would.
FAULT_HOOK = """
import trackstack_wh.sink.app as app

_batch_blob = app.batch_blob


def batch_blob(parsed, *args):
    if b"inject-fault" in parsed.body:
        raise ZeroDivisionError("injected for a test")
    return _batch_blob(parsed, *args)


app.batch_blob = batch_blob
"""


@pytest.mark.integration
def test_an_unexpected_exception_is_a_json_500_counted_and_logged_once(tmp_path: Path) -> None:
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(FAULT_HOOK)
    paths = [str(hooks), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**KEY_ENV, "PYTHONPATH": os.pathsep.join(paths)}
    config = write_config(tmp_path / "sink.toml")
    tiny = server_headers(OTHER_SECRET)  # daily quota: 10 events
    with SinkProcess(tmp_path / "landing", config, env=env) as sink:
        for attempt in range(3):
            batch = {"events": events(6, prefix=f"f{attempt}-", note="inject-fault")}
            failed = sink.client.post("/events", json=batch, headers=tiny)
            assert failed.status_code == 500
            assert failed.headers["content-type"] == "application/json"
            assert failed.json()["error"] == "internal"
        assert counter(sink, 'ts_sink_requests_total{status="500"}') == 3
        assert counter(sink, refused("internal")) == 3
        ok = sink.client.post("/events", json={"events": events(10)}, headers=tiny)
        assert ok.status_code == 202  # the failed batches took nothing from the quota
        stderr = sink.stderr_text()
    assert "Traceback" not in stderr
    [line] = [x for x in stderr.splitlines() if "ZeroDivisionError" in x]
    assert "POST /events" in line and "sitecustomize.py:" in line  # where it was raised


@pytest.mark.integration
def test_connections_beyond_the_cap_get_503_until_some_close(tmp_path: Path) -> None:
    config = write_config(tmp_path / "sink.toml", max_connections=3)
    with SinkProcess(tmp_path / "landing", config, env=KEY_ENV) as sink:
        address = urlsplit(sink.base_url)
        idle = [socket.create_connection((address.hostname, address.port)) for _ in range(3)]
        try:
            with httpx.Client(base_url=sink.base_url, timeout=10) as client:
                capped = client.post(
                    "/events", json={"events": events(1)}, headers=server_headers()
                )
            assert capped.status_code == 503
        finally:
            for conn in idle:
                conn.close()
        deadline = time.monotonic() + 5
        while True:
            with httpx.Client(base_url=sink.base_url, timeout=10) as client:
                again = client.post("/events", json={"events": events(1)}, headers=server_headers())
            if again.status_code == 202 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert again.status_code == 202
