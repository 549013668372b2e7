"""Seed 002 rules at file ingest: client IPs under the ``client_ip`` policy (per project,
else the workspace; truncated by default), generated session IDs (deterministic under
re-ingest and batch splits), and project usage counting file events."""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import random
from pathlib import Path

import duckdb
import polars as pl
import pytest

import trackstack_wh as tw
from tests.helpers import event_line, write_lines
from trackstack_wh.config import IpPolicy, parse_config
from trackstack_wh.errors import ConfigError
from trackstack_wh.ingest.client_ip import IP_MACROS
from trackstack_wh.sink.batch import truncate_ip

T = dt.datetime(2026, 10, 28, 9, 0, tzinfo=dt.UTC)
AGENT = "Mozilla/5.0"


def ingest(tmp_path: Path, name: str, lines: list[str], config: str = "") -> tw.Warehouse:
    toml = tmp_path / f"{name}.toml"
    toml.write_text(config)
    wh = tw.connect(tmp_path / f"{name}.duckdb", config=toml)
    wh.ingest(write_lines(tmp_path / f"{name}.ndjson", lines))
    return wh


def stored(wh: tw.Warehouse, column: str) -> dict[str, object]:
    rows = wh.sql(f"select event_id, {column} from events order by event_id").rows()
    return dict(rows)


ACME_KEY = "sk_acme_0123456789abcdef"


def ip_events() -> list[str]:
    return [
        event_line("PageView", "v4", T, clientIp="203.0.113.77"),
        event_line("PageView", "v6", T, clientIp="2001:db8:85a3:8d3:1319:8a2e:370:7348"),
        event_line("PageView", "mapped", T, clientIp="::ffff:198.51.100.23"),
        event_line("PageView", "nested", T, userData={"clientIp": "192.0.2.200"}),
        event_line("PageView", "garbage", T, clientIp="not-an-ip"),
        event_line("PageView", "acme", T, clientIp="203.0.113.77", projectKey=ACME_KEY),
        event_line("PageView", "beta", T, clientIp="203.0.113.77", projectId="beta"),
    ]


def test_file_ingested_ips_are_truncated_by_default(tmp_path: Path) -> None:
    with ingest(tmp_path, "default", ip_events()) as wh:
        assert stored(wh, "client_ip") == {
            "v4": "203.0.113.0",
            "v6": "2001:db8:85a3::",
            "mapped": "198.51.100.0",
            "nested": "192.0.2.0",
            "garbage": None,
            "acme": "203.0.113.0",
            "beta": "203.0.113.0",
        }


def test_project_and_workspace_policies_are_honoured(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKSTACK_ACME_SECRET_KEY", ACME_KEY)
    config = """
[workspace]
client_ip = "full"

[projects.acme]
client_ip = "drop"
secret_key_env = "TRACKSTACK_ACME_SECRET_KEY"

[projects.beta]
client_ip = "truncate"
secret_key_env = "TRACKSTACK_BETA_SECRET_KEY"
"""
    with ingest(tmp_path, "policies", ip_events(), config) as wh:
        ips = stored(wh, "client_ip")
        projects = stored(wh, "project_id")
        keys = stored(wh, "project_key")
    assert ips["acme"] is None  # projectKey is project acme's key: drop
    assert projects["acme"] == "acme" and projects["beta"] == "beta"
    fingerprint = keys["acme"]  # the key itself is never stored, only a fingerprint
    assert isinstance(fingerprint, str) and fingerprint.startswith("sha256:")
    assert ACME_KEY not in fingerprint and len(fingerprint) == len("sha256:") + 16
    assert ips["beta"] == "203.0.113.0"  # projectId beta: truncate
    assert ips["v4"] == "203.0.113.77" and ips["garbage"] == "not-an-ip"  # workspace: full
    assert ips["v6"] == "2001:db8:85a3:8d3:1319:8a2e:370:7348"


def test_projects_inherit_the_workspace_policy_and_bad_values_are_named() -> None:
    project = {"secret_key_env": "TRACKSTACK_ACME_SECRET_KEY"}
    config = parse_config({"workspace": {"client_ip": "drop"}, "projects": {"acme": project}})
    assert config.projects["acme"].client_ip is IpPolicy.DROP
    assert config.ingest.client_ip.default is IpPolicy.DROP
    with pytest.raises(ConfigError, match="workspace.client_ip = 'hash'"):
        parse_config({"workspace": {"client_ip": "hash"}})


def test_sql_truncation_agrees_with_the_sinks(tmp_path: Path) -> None:
    rng = random.Random(29)
    values = ["::", "::1", "1::", "fe80::1%eth0", "::1.2.3.4", "1.2.3.04", " 10.0.0.1 ", ""]
    for _ in range(1000):
        v4 = ipaddress.IPv4Address(rng.getrandbits(32))
        v6 = ipaddress.IPv6Address(rng.getrandbits(128) >> rng.choice([0, 64, 80, 112]))
        values += [str(v4), str(v6), v6.exploded.upper(), f"::ffff:{v4}"]
    conn = duckdb.connect()
    conn.execute(IP_MACROS)
    conn.register("ips", pl.DataFrame({"v": values}))
    got = conn.sql("select v, ts_truncate_ip(v) as ip from ips").pl()
    assert got["ip"].to_list() == [truncate_ip(v) for v in values]


def session_events(ids: list[int]) -> list[str]:
    """Visitors keyed by user ID, email, anonymous ID, IP + agent, and nothing at all;
    two 30-minute buckets; one record with its own session."""
    at = [T, T + dt.timedelta(minutes=20), T + dt.timedelta(minutes=40)]
    visitors: list[dict[str, object]] = [
        {"externalId": "u1"},
        {"email": " Pat@Example.com "},
        {"anonymousId": "anon-7"},
        {"clientIp": "203.0.113.5", "userAgent": AGENT},
        {},
    ]
    lines = []
    for i in ids:
        visitor, when = visitors[i % len(visitors)], at[(i // len(visitors)) % len(at)]
        lines.append(event_line("PageView", f"e{i:02d}", when, projectKey="acme", **visitor))
    lines.append(event_line("PageView", "own", T, sessionId="s-given", externalId="u1"))
    return lines


def test_sessions_are_generated_per_visitor_and_bucket(tmp_path: Path) -> None:
    with ingest(tmp_path, "sessions", session_events(list(range(15)))) as wh:
        sessions = stored(wh, "session_id")
        flags = stored(wh, "session_id_generated")
    assert sessions["own"] == "s-given" and flags["own"] is False
    assert all(flags[f"e{i:02d}"] for i in range(15))
    for visitor in range(4):  # minutes 0 and 20 share a bucket; minute 40 does not
        first, second, third = (sessions[f"e{visitor + k:02d}"] for k in (0, 5, 10))
        assert first == second != third
    assert len({sessions[f"e{i:02d}"] for i in range(4)}) == 4  # one session per visitor
    nobody = [sessions[f"e{i:02d}"] for i in (4, 9, 14)]
    assert len(set(nobody)) == 3  # a record naming nobody is its own session
    assert all(str(s).startswith("gs_") for s in sessions.values() if s != "s-given")


def test_generated_sessions_survive_reingest_and_batch_splits(tmp_path: Path) -> None:
    ids = list(range(15))
    with ingest(tmp_path, "whole", session_events(ids)) as wh:
        whole = stored(wh, "session_id")
    shuffled = ids[:]
    random.Random(3).shuffle(shuffled)
    toml = tmp_path / "split.toml"
    toml.write_text("")
    with tw.connect(tmp_path / "split.duckdb", config=toml) as wh:
        lines = session_events(shuffled)
        wh.ingest(write_lines(tmp_path / "late.ndjson", lines[8:]))
        wh.ingest(write_lines(tmp_path / "early.ndjson", lines[:8]))
        assert stored(wh, "session_id") == whole


def test_project_usage_counts_file_events_per_project_and_day(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKSTACK_ACME_SECRET_KEY", ACME_KEY)
    unknown = "sk_nobody_knows_this_key_42"
    lines = [
        event_line("PageView", f"a{i}", T, projectKey=ACME_KEY, pageUrl="https://a.example")
        for i in range(3)
    ] + [
        event_line("PageView", "none", T, pageUrl="https://a.example"),
        event_line("PageView", "other", T, projectKey=unknown, pageUrl="https://a.example"),
    ]
    day = dt.datetime(2026, 11, 2, 23, 59, tzinfo=dt.UTC)
    toml = tmp_path / "usage.toml"
    toml.write_text('[projects.acme]\nsecret_key_env = "TRACKSTACK_ACME_SECRET_KEY"\n')
    with tw.connect(tmp_path / "usage.duckdb", config=toml) as wh:
        wh.ingest(write_lines(tmp_path / "usage.ndjson", lines), received_at=day)
        usage = wh.project_usage()
        rows = usage.select("project_id", "events", "file_events", "http_events").rows()
        fingerprint = "sha256:" + hashlib.sha256(unknown.encode()).hexdigest()[:16]
        assert sorted(rows, key=str) == sorted(
            [("acme", 3, 3, 0), (fingerprint, 1, 1, 0), (None, 1, 1, 0)], key=str
        )
        assert usage["day"].to_list() == [day.date()] * 3
        stored_keys = wh.sql("select list(project_key) from events").item()
        assert not {ACME_KEY, unknown} & set(stored_keys)  # keys are never stored
        assert wh.project_usage("acme")["events"].to_list() == [3]
        assert wh.sink_usage().equals(usage)


def test_keys_stored_before_the_rule_are_replaced_by_their_fingerprint(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    with tw.connect(db) as wh:
        wh.ingest(write_lines(tmp_path / "e.ndjson", [event_line("PageView", "x", T)]))
        wh.conn.execute("update events set project_key = ?", [ACME_KEY])  # as stored before
    with tw.connect(db) as wh:
        stored_key = wh.sql("select project_key from events").item()
    assert stored_key == "sha256:" + hashlib.sha256(ACME_KEY.encode()).hexdigest()[:16]
