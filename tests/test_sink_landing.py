"""Landing segments without a server: batch lines, crash recovery of torn segments,
usage that is neither lost nor counted twice across restarts, and segments closed once
idle (by the committer's own timer) or at their maximum age."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from pathlib import Path

import orjson
import pytest

import trackstack_wh as tw
from trackstack_wh.config import IpPolicy, KeyKind, load_keys, parse_config
from trackstack_wh.errors import ConfigError
from trackstack_wh.sink.batch import Envelope, batch_blob, truncate_ip
from trackstack_wh.sink.body import parse_body
from trackstack_wh.sink.landing import GroupCommitter, Landed, LandingError, SegmentWriter
from trackstack_wh.sink.redact import KeyRedactor
from trackstack_wh.sink.segments import OPEN_SUFFIX, SEGMENT_SUFFIX, TORN_DIR

KEY = b"sk_unit_test_key_0123456789"
REDACT = KeyRedactor([KEY])
TODAY = dt.datetime.now(dt.UTC).date().isoformat()


def blob(batch_id: str, n: int, day: str = TODAY) -> bytes:
    body = orjson.dumps({"events": [{"event": "SignUp", "eventId": f"{batch_id}-{i}",
                                     "email": f"u{i}@acme.test"} for i in range(n)]})  # fmt: skip
    env = Envelope(batch_id, f"{day}T10:00:00.000000Z", "acme", KeyKind.SECRET,
                   IpPolicy.TRUNCATE, None, None, None, None)  # fmt: skip
    return batch_blob(parse_body(body), env, len(body), REDACT)


def envelope(policy: IpPolicy = IpPolicy.TRUNCATE, kind: KeyKind = KeyKind.SECRET) -> Envelope:
    return Envelope("eb_1", "2026-11-23T10:00:00.000000Z", "acme", kind, policy,
                    "app.example.com", "1", "10.1.2.0", "UA/1")  # fmt: skip


def lines_of(body: bytes, env: Envelope) -> list[bytes]:
    return batch_blob(parse_body(body), env, len(body), REDACT).splitlines()


def test_events_land_as_sent_one_per_line() -> None:
    body = b'{"events": [\n {"event": "SignUp",\n  "n": 123456789012345678901234567890},\n 17]}'
    header, first, second = lines_of(body, envelope())
    assert orjson.loads(header)["_edgeBatch"]["events"] == 2
    assert first == b'{"event": "SignUp",   "n": 123456789012345678901234567890}'
    assert second == b"17"


def test_a_header_cannot_be_forged_by_an_event() -> None:
    body = b'{"events": [{"_edgeBatch": {"events": 0}, "event": "X"}, {"event": "Y"}]}'
    lines = lines_of(body, envelope())
    assert len(lines) == 3 and not lines[1].startswith(b'{"_edgeBatch"')
    assert orjson.loads(lines[1]) == {"edgeBatchId": "eb_1", "_edgeBatch": {"events": 0},
                                      "event": "X"}  # fmt: skip


@pytest.mark.parametrize(
    ("event", "policy", "landed"),
    [
        (b'{"ip":"203.0.113.77","userData":{"clientIp":"2001:db8:1:2::3"}}', IpPolicy.TRUNCATE,
         {"ip": "203.0.113.0", "userData": {"clientIp": "2001:db8:1::"}}),
        (b'{"clientIp" : "203.0.113.77"}', IpPolicy.TRUNCATE, {"clientIp": "203.0.113.0"}),
        (b'{"clientIp":"not an ip","x":1}', IpPolicy.TRUNCATE, {"x": 1}),
        (b'{"clientIpAddress":null}', IpPolicy.TRUNCATE, {}),
        (b'{"ip":"203.0.113.77"}', IpPolicy.FULL, {"ip": "203.0.113.77"}),
        (b'{"ip":"203.0.113.77","e":1}', IpPolicy.DROP, {"e": 1}),
    ],
)  # fmt: skip
def test_client_ip_policy_on_every_ip_field(event: bytes, policy: IpPolicy, landed: dict) -> None:
    [_, line] = lines_of(b'{"events": [' + event + b"]}", envelope(policy))
    assert orjson.loads(line) == landed


def test_browser_requests_fill_in_their_own_ip_and_user_agent() -> None:
    body = (
        b'{"events": [{}, {"event": "A", "userAgent": "Own/1"}, {"userData": {"ip": "9.9.9.9"}}]}'
    )
    _, empty, own, nested = lines_of(body, envelope(kind=KeyKind.PUBLISHABLE))
    assert orjson.loads(empty) == {"clientIp": "10.1.2.0", "userAgent": "UA/1"}
    assert orjson.loads(own) == {"clientIp": "10.1.2.0", "event": "A", "userAgent": "Own/1"}
    assert orjson.loads(nested) == {"userAgent": "UA/1", "userData": {"ip": "9.9.9.0"}}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("203.0.113.77", "203.0.113.0"), ("2001:db8:abcd:1234::9", "2001:db8:abcd::"),
     ("::ffff:198.51.100.7", "198.51.100.0"), (" 10.0.0.1 ", "10.0.0.0"), ("nope", None)],
)  # fmt: skip
def test_ip_truncation(value: str, expected: str | None) -> None:
    assert truncate_ip(value) == expected


def open_segment(root: Path, name: str, data: bytes) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"seg-{name}{OPEN_SUFFIX}"
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("tail", "reason"),
    [(lambda b: b[: b.rindex(b"\n", 0, -1) + 15], "torn_line"),
     (lambda b: b[: b.rindex(b"\n", 0, -1) + 1], "incomplete_batch"),
     (lambda b: b[:40], "torn_line")],
)  # fmt: skip
def test_recovery_keeps_whole_batches_and_sets_the_rest_aside(
    tmp_path: Path, tail: object, reason: str
) -> None:
    root = tmp_path / "landing"
    whole = blob("eb_a", 3) + blob("eb_b", 2)
    partial = tail(blob("eb_c", 4))  # type: ignore[operator]
    open_segment(root, "20261123T100000000000Z-1-000001", whole + partial)
    writer = SegmentWriter(root, 1 << 20, 60)
    [recovered] = writer.open()
    writer.close()
    assert (recovered.batches, recovered.events, recovered.reason) == (2, 5, reason)
    closed = root / f"seg-20261123T100000000000Z-1-000001{SEGMENT_SUFFIX}"
    assert closed.read_bytes() == whole
    torn = root / TORN_DIR / f"{closed.name}.torn"
    assert torn.read_bytes() == partial
    note = json.loads((root / TORN_DIR / f"{closed.name}.torn.json").read_text())
    assert note == {"segment": closed.name, "offset": len(whole), "bytes": len(partial),
                    "reason": reason}  # fmt: skip
    assert writer.usage.events(TODAY, "acme") == 5
    with tw.connect(tmp_path / "wh.duckdb") as wh:
        assert wh.ingest_landing(root).totals()["rows_in"] == 5


def test_usage_is_counted_once_across_restarts(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    writer = SegmentWriter(root, 1 << 20, 60)
    writer.open()
    writer.write([Landed(TODAY, "acme", 3, 100, blob("eb_1", 3))])
    writer.close_segment()  # snapshot written: through this segment
    writer.write([Landed(TODAY, "acme", 2, 100, blob("eb_2", 2))])
    writer.close()
    assert writer.usage.events(TODAY, "acme") == 5
    # A killed sink leaves its open segment; the next start adds only what is newer.
    open_segment(root, "29991231T000000000000Z-9-000001", blob("eb_3", 4))
    again = SegmentWriter(root, 1 << 20, 60)
    again.open()
    assert again.usage.events(TODAY, "acme") == 9
    with pytest.raises(LandingError, match="in use by another sink"):
        SegmentWriter(root, 1 << 20, 60).open()
    again.close()


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ({"sink": {"max_body_bytes": 0}}, "sink.max_body_bytes must be a positive number"),
        ({"sink": {"max_events": 5}}, "unknown key sink.max_events"),
        ({"sink": {"segment_idle_seconds": 0}}, "sink.segment_idle_seconds must be a positive"),
        ({"sink": {"segment_idle_seconds": float("nan")}}, "sink.segment_idle_seconds must be"),
        ({"sink": {"segment_idle_seconds": "5s"}}, "sink.segment_idle_seconds must be (<class"),
        ({"projects": {"Acme!": {"secret_key_env": "K"}}}, "a project id is lowercase"),
        ({"projects": {"a": {}}}, "needs publishable_key_env or secret_key_env"),
        ({"projects": {"a": {"secret_key_env": "sk_live_abc"}}}, "must name an environment"),
        ({"projects": {"a": {"publishable_key_env": "K"}}}, "no allowed_origins"),
        ({"projects": {"a": {"secret_key_env": "K", "client_ip": "hash"}}}, "allowed: ["),
        ({"projects": {"a": {"secret_key_env": "K", "daily_event_quota": True}}}, "must be int"),
    ],
)
def test_sink_config_errors_name_the_key(toml: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_config(toml, Path("ts.toml"))


def test_keys_come_from_the_environment_and_must_look_like_keys() -> None:
    projects = parse_config({"projects": {"a": {"secret_key_env": "K1"}}}).projects
    [key] = load_keys(projects, {"K1": "sk_0123456789abcdef"})
    assert key.project.project_id == "a" and key.kind is KeyKind.SECRET
    with pytest.raises(ConfigError, match=r"\$K1 must be 16-256 characters") as err:
        load_keys(projects, {"K1": "short"})
    assert "short" not in str(err.value)


def closed_in(root: Path) -> list[Path]:
    return sorted(root.glob(f"*{SEGMENT_SUFFIX}"))


def test_an_idle_segment_is_closed_without_another_request(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    writer = SegmentWriter(root, 1 << 20, 3600, idle_seconds=0.2)
    writer.open()

    async def quiet_after_one_batch() -> float:
        committer = GroupCommitter(writer)
        committer.start()
        await committer.append(Landed(TODAY, "acme", 2, 100, blob("eb_idle", 2)))
        acknowledged = time.monotonic()
        assert list(root.glob(f"*{OPEN_SUFFIX}")) and not closed_in(root)
        while not closed_in(root):  # nothing else is sent: only the timer can close it
            assert time.monotonic() - acknowledged < 5, "the idle segment was not closed"
            await asyncio.sleep(0.02)
        waited = time.monotonic() - acknowledged
        await committer.stop()
        return waited

    waited = asyncio.run(quiet_after_one_batch())
    assert 0.15 <= waited < 2
    [segment] = closed_in(root)
    assert segment.read_bytes() == blob("eb_idle", 2)
    assert writer.segments_closed == 1 and not list(root.glob(f"*{OPEN_SUFFIX}"))
    assert json.loads((root / "_usage.json").read_text())["through"] == segment.name


def test_steady_traffic_is_closed_at_the_maximum_age(tmp_path: Path) -> None:
    now = [0.0]
    writer = SegmentWriter(tmp_path / "landing", 1 << 20, 60, idle_seconds=5, clock=lambda: now[0])
    writer.open()
    assert writer.seconds_until_rotation() is None  # nothing open, nothing to close
    closed_at = []
    for n in range(40):  # a batch every 4 s: never idle for 5 s
        writer.write([Landed(TODAY, "acme", 1, 10, blob(f"eb_s{n}", 1))])
        assert writer.seconds_until_rotation() == min(5.0, 60 - writer.open_age())
        now[0] += 4
        writer.rotate_if_due()
        if writer.open_segment == "":
            closed_at.append(now[0])
    assert closed_at == [60.0, 120.0]  # by age, each after 15 batches
    now[0] += 0.5  # the last batch came 4.5 s ago
    writer.rotate_if_due()
    assert writer.open_segment and writer.seconds_until_rotation() == 0.5
    now[0] += 0.5
    writer.rotate_if_due()  # idle for 5 s
    assert writer.open_segment == "" and writer.segments_closed == 3
    writer.close()
    assert [s.read_bytes().count(b"_edgeBatch") for s in closed_in(tmp_path / "landing")] == [
        15,
        15,
        10,
    ]
