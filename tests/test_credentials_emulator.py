"""Credentials against the platform emulator, configured as a user's live endpoints (its
``base_url`` per destination, its token endpoints as ``token_url``, a service-account
key whose ``token_uri`` is the emulator's): tokens that expire mid-push are renewed
without losing a row, ``check-credentials`` tells each failure apart, a destination whose
check fails sends nothing, and no fetched token is ever stored."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import shutil
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import pytest

import trackstack_wh as tw
from tests.receiver import Receiver
from trackstack_lab.emulator import EmulatorProcess
from trackstack_lab.emulator.keys import write_private_key, write_service_account
from trackstack_wh.cli import main

ROOT = Path(__file__).parent.parent
STATIC = "static-Tok3n-value"
FAST = {"retry_base_seconds": 0.01, "retry_max_seconds": 0.05, "timeout_seconds": 5.0,
        "requests_per_second": 1000}  # fmt: skip
OAUTH = {
    "linkedin": 'auth = "oauth_refresh"\ntoken_url = "{emu}/linkedin/oauth/v2/accessToken"',
    "salesforce": 'auth = "jwt_bearer"\nusername = "integration@acme.example"\n'
    'token_url = "{emu}/salesforce/services/oauth2/token"',
    "google_ads": 'auth = "service_account"',
}
"""``[destinations.<name>]`` lines of the renewing destinations (``{emu}``: emulator URL)."""


@pytest.fixture
def emu(emulator: EmulatorProcess, source: tuple[Path, dt.datetime]) -> EmulatorProcess:
    emulator.reset()
    emulator.set_clock(source[1])
    return emulator


@pytest.fixture
def db(source: tuple[Path, dt.datetime], tmp_path: Path) -> Path:
    copy = tmp_path / "wh.duckdb"
    shutil.copy(source[0], copy)
    return copy


def write_config(
    path: Path,
    emu: EmulatorProcess,
    monkeypatch: pytest.MonkeyPatch,
    *,
    tokens: dict[str, str] | None = None,
    bases: dict[str, str] | None = None,
) -> Path:
    """trackstack.toml with every destination at the emulator (``bases`` overrides one's
    base URL), LinkedIn, Salesforce and Google renewing their tokens, the others static
    (``tokens`` sets a static token; ``""`` leaves its variable unset); the variables
    set in the environment, the key files written beside ``path``."""
    text = (ROOT / "trackstack.toml").read_text()
    for name in ("meta", "google_ads", "linkedin", "tiktok", "snapchat", "reddit", "hubspot",
                 "salesforce", "posthog"):  # fmt: skip
        header = f"[destinations.{name}]\n"
        start = text.index(header) + len(header)
        end = text.index("\n\n", start)
        lines = [f'base_url = "{(bases or {}).get(name, emu.url_for(name))}"']
        for line in text[start:end].splitlines():
            if name in OAUTH and line.startswith("access_token_env"):
                line = OAUTH[name].format(emu=emu.base_url)
            lines.append(line)
        text = text[:start] + "\n".join(lines) + text[end:]
    path.write_text(text)
    static = dict.fromkeys(("meta", "tiktok", "snapchat", "reddit", "hubspot", "posthog"), STATIC)
    for name, value in {**static, **(tokens or {})}.items():
        if value:
            monkeypatch.setenv(f"TRACKSTACK_{name.upper()}_TOKEN", value)
        else:
            monkeypatch.delenv(f"TRACKSTACK_{name.upper()}_TOKEN", raising=False)
    monkeypatch.setenv("TRACKSTACK_GOOGLE_DEVELOPER_TOKEN", "developer-T0ken")
    for var, value in (("CLIENT_ID", "li-client"), ("CLIENT_SECRET", "li-S3cret"),
                       ("REFRESH_TOKEN", "li-refresh-R3fresh")):  # fmt: skip
        monkeypatch.setenv(f"TRACKSTACK_LINKEDIN_{var}", value)
    monkeypatch.setenv("TRACKSTACK_SALESFORCE_CLIENT_ID", "3MVG9-consumer")
    key = write_private_key(path.parent / "salesforce")
    monkeypatch.setenv("TRACKSTACK_SALESFORCE_PRIVATE_KEY_FILE", str(key))
    account = write_service_account(path.parent / "google", f"{emu.base_url}/google_ads/token")
    monkeypatch.setenv("TRACKSTACK_GOOGLE_SERVICE_ACCOUNT_FILE", str(account))
    return path


def renewals(caplog: pytest.LogCaptureFixture) -> Counter[str]:
    prefix = "renewed access token for "
    return Counter(m[len(prefix) :].split(" ")[0] for m in caplog.messages if m.startswith(prefix))


def test_tokens_that_expire_mid_push_are_renewed_and_every_row_is_delivered(
    emu: EmulatorProcess, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, source: tuple[Path, dt.datetime],
) -> None:  # fmt: skip
    renewing = ["google_ads", "linkedin", "salesforce"]
    for name in renewing:
        emu.set_auth(name, token_lifetime=1)
    config = write_config(tmp_path / "trackstack.toml", emu, monkeypatch)
    slow = {**FAST, "batch_size": 10, "requests_per_second": 4, "concurrency": 2}
    with (
        tw.connect(db, config=config) as wh,
        caplog.at_level(logging.INFO, logger="trackstack_wh.delivery.tokens"),
    ):
        report = wh.push(renewing, as_of=source[1], delivery=slow)
        assert report.ok, report
        for name in renewing:
            part = report[name]
            assert part.delivered + part.superseded == part.pending > 0, part
            assert part.seconds > 1.5  # the push outlived its tokens
        refused = wh.sql("select count(*) as n from delivery_log where error_class = 'auth' "
                         "or http_status = 401")["n"][0]  # fmt: skip
        assert refused == 0  # an expired token never cost a row an attempt
    counted = renewals(caplog)
    issued = emu.auth_stats()
    for name in renewing:
        assert counted[name] >= 2, counted
        assert issued[name]["tokens_issued"] == counted[name]
    # Salesforce states no lifetime: its tokens were renewed on the platform's 401 alone,
    # each refused request sent again with the new token (none of it in the log above).
    assert emu.stats()["salesforce"]["rejected_requests"] >= counted["salesforce"] - 1 >= 1
    assert all("Tok3n" not in m and "emu-" not in m for m in caplog.messages)


def test_check_credentials_tells_each_failure_apart(
    emu: EmulatorProcess, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    config = write_config(
        tmp_path / "trackstack.toml", emu, monkeypatch,
        tokens={"meta": "expired-meta-T0ken", "hubspot": "noscope-hubspot-T0ken",
                "snapchat": "revoked-snap-T0ken", "tiktok": ""},
        bases={"reddit": "http://127.0.0.1:9/reddit"},
    )  # fmt: skip
    emu.set_auth("linkedin", revoked=True)
    emu.set_auth("google_ads", wrong_scope=True)
    args = ["--config", str(config), "check-credentials"]
    assert main([*args, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    status = {d["destination"]: d["status"] for d in result["destinations"]}
    assert status == {
        "meta": "expired", "google_ads": "insufficient_scope", "linkedin": "revoked",
        "tiktok": "missing", "snapchat": "revoked", "reddit": "unreachable",
        "hubspot": "insufficient_scope", "salesforce": "ok", "posthog": "ok",
    }  # fmt: skip
    by_name = {d["destination"]: d for d in result["destinations"]}
    assert by_name["tiktok"]["missing"] == ["TRACKSTACK_TIKTOK_TOKEN"]
    assert "TRACKSTACK_LINKEDIN_REFRESH_TOKEN" in by_name["linkedin"]["fix"]
    assert all(d["fix"] for d in result["destinations"] if not d["ok"])
    # One destination, as text; exit 0 when it passes.
    assert main([*args, "--destination", "salesforce"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("credentials: 1 ok, 0 failing") and "salesforce" in out
    assert emu.auth_stats()["linkedin"]["grants_refused"] == 1


def test_check_credentials_against_the_emulator_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("META", "GOOGLE", "LINKEDIN", "TIKTOK", "SNAPCHAT", "REDDIT", "HUBSPOT",
                 "SALESFORCE", "POSTHOG"):  # fmt: skip
        monkeypatch.delenv(f"TRACKSTACK_{name}_TOKEN", raising=False)
    config = ROOT / "trackstack.toml"
    assert main(["--config", str(config), "check-credentials", "--emulator", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["ok"] and len(result["destinations"]) == 9


def test_a_destination_whose_check_fails_is_halted_before_any_row(
    emu: EmulatorProcess, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    source: tuple[Path, dt.datetime],
) -> None:  # fmt: skip
    config = write_config(tmp_path / "trackstack.toml", emu, monkeypatch,
                          tokens={"meta": "expired-meta-T0ken"})  # fmt: skip
    emu.set_auth("linkedin", revoked=True)
    with tw.connect(db, config=config) as wh:
        report = wh.push(["meta", "linkedin", "tiktok"], as_of=source[1], delivery=FAST)
        assert report["meta"].halted.startswith("auth: credential check expired")
        assert report["linkedin"].halted.startswith("auth: credential check revoked")
        assert report["tiktok"].halted is None and report["tiktok"].delivered > 0
        stats = emu.stats()
        assert stats["meta"]["requests"] == stats["linkedin"]["requests"] == 0
        for name in ("meta", "linkedin"):
            assert report[name].not_sent == report[name].pending > 0
            assert wh.deliveries(name).height == 0  # nothing logged: every row pending
        # Credentials fixed: the next push sends every row.
        monkeypatch.setenv("TRACKSTACK_META_TOKEN", STATIC)
        emu.set_auth("linkedin", revoked=False)
        again = wh.push(["meta", "linkedin"], as_of=source[1], delivery=FAST)
        assert again.ok and again["linkedin"].delivered == report["linkedin"].pending


def forms(token: str) -> list[str]:
    return [token, quote(token, safe=""), json.dumps(token)[1:-1],
            base64.b64encode(token.encode()).decode()]  # fmt: skip


def test_fetched_tokens_an_endpoint_echoes_are_never_stored(
    emu: EmulatorProcess, db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    source: tuple[Path, dt.datetime], capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    with Receiver() as receiver:
        receiver.echo_credential(401, destination="linkedin")
        bases = {"linkedin": receiver.base_for("linkedin")}
        config = write_config(tmp_path / "trackstack.toml", emu, monkeypatch, bases=bases)
        args = ["--db", str(db), "--config", str(config)]
        assert main([*args, "push", "--destination", "linkedin", "--as-of",
                     source[1].isoformat(), "--json"]) == 1  # fmt: skip
        requests = receiver.requests("linkedin")
    sent = {r.headers["authorization"].split(" ", 1)[1] for r in requests}
    assert len(sent) == 2  # refused as unparseable: renewed once, then the push halted
    echoed = b"".join(r.answer or b"" for r in requests if r.kind != "whoami")
    assert all(token.encode() in echoed for token in sent)
    printed = capsys.readouterr()
    with tw.connect(db, config=config) as wh:
        stored = [
            wh.sql(f"select coalesce(string_agg(t::varchar, ''), '') from {table} t").item()
            for table in ("delivery_log", "delivery_requests")
        ]
        assert wh.deliveries("linkedin")["error_message"].str.contains(r"\*\*\*").any()
        stored.append(str(wh.deliveries().to_dicts()))
    for text in [printed.out, printed.err, caplog.text, *stored]:
        for token in sent:
            for form in forms(token):
                assert form not in text, form
