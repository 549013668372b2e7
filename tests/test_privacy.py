"""Privacy signals per platform: consent (and the ``[privacy]`` defaults) become Google's
consent object, and limited data use (asked in consent, by region, or by platformParams)
becomes Meta's, TikTok's, Snapchat's and Reddit's LDU flags; denied ad use still keeps
events from every ad platform."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines
from trackstack_wh.config import parse_config
from trackstack_wh.errors import ConfigError
from trackstack_wh.payloads.conformance import check_conformance

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
T = AS_OF - dt.timedelta(hours=3)
GRANTED = {"ad_user_data": "granted", "ad_personalization": "granted"}

EVENTS = [
    event_line("SignUp", "ca", T, email="ca@acme.example", state="California", country="US",
               consent=GRANTED, **WEB),
    event_line("SignUp", "tx", T, email="tx@acme.example", state="TX", country="US",
               consent=GRANTED, **WEB),
    event_line("SignUp", "asked", T, email="asked@acme.example", country="DE",
               consent={"ad_user_data": "granted", "limited_data_use": True}, **WEB),
    event_line("SignUp", "nopers", T, email="nopers@acme.example",
               consent={"adUserData": "granted", "adPersonalization": "denied"}, **WEB),
    event_line("SignUp", "silent", T, email="silent@acme.example", **WEB),
    event_line("SignUp", "denied", T, email="denied@acme.example",
               consent={"ad_user_data": "denied"}, **WEB),
    event_line("SignUp", "forced", T, email="forced@acme.example", consent=GRANTED,
               platformParams={"meta": {"limitedDataUse": True},
                               "reddit": {"limitedDataUse": True}}, **WEB),
]  # fmt: skip

AD = ("meta", "google_ads", "tiktok", "snapchat", "reddit", "linkedin")
CONFIG: dict[str, Any] = {
    "privacy": {"ldu_regions": ["US-CA"], "default_ad_user_data": "granted"},
    "destinations": {
        "meta": {"enabled": True, "pixel_id": "123"},
        "google_ads": {
            "enabled": True,
            "customer_id": "123-456-7890",
            "conversion_actions": {"SignUp": "11"},
        },  # fmt: skip
        "linkedin": {"enabled": True, "conversion_rules": {"SignUp": "111"}},
        "tiktok": {"enabled": True, "pixel_code": "PIX"},
        "snapchat": {"enabled": True, "pixel_id": "snap"},
        "reddit": {"enabled": True, "pixel_id": "t2_x"},
    },
}


def _build(tmp: Path, config: dict[str, Any]) -> tw.Warehouse:
    wh = tw.connect(tmp / "wh.duckdb", config=parse_config(config))
    wh.ingest(write_lines(tmp / "events.ndjson", EVENTS))
    wh.build_payloads(as_of=AS_OF)
    return wh


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    wh = _build(tmp_path_factory.mktemp("privacy"), CONFIG)
    yield wh
    wh.close()


def body(wh: tw.Warehouse, destination: str, event_id: str) -> dict[str, Any]:
    frame = wh.payloads(destination).filter(event_id=event_id)
    assert frame.height == 1 and frame["status"][0] == "ready", frame
    parsed: dict[str, Any] = json.loads(frame["payload"][0])
    return parsed


def test_meta_ldu_for_a_california_event_is_1_1000(built: tw.Warehouse) -> None:
    meta = body(built, "meta", "ca")
    assert meta["data_processing_options"] == ["LDU"]
    assert (meta["data_processing_options_country"], meta["data_processing_options_state"]) == (
        1,
        1000,
    )


def test_meta_ldu_asked_in_consent_lets_meta_geolocate(built: tw.Warehouse) -> None:
    for event_id in ("asked", "nopers", "forced"):
        meta = body(built, "meta", event_id)
        assert meta["data_processing_options"] == ["LDU"], event_id
        assert meta["data_processing_options_country"] == 0, event_id
        assert meta["data_processing_options_state"] == 0, event_id


def test_no_ldu_outside_the_regions_without_an_opt_out(built: tw.Warehouse) -> None:
    for destination in ("meta", "snapchat"):
        for event_id in ("tx", "silent"):
            assert "data_processing_options" not in body(built, destination, event_id)
    assert "limited_data_use" not in body(built, "tiktok", "tx")
    assert "data_processing_options" not in body(built, "reddit", "tx")["user"]


def test_tiktok_snapchat_and_reddit_carry_their_ldu_flags(built: tw.Warehouse) -> None:
    assert body(built, "tiktok", "ca")["limited_data_use"] is True
    assert body(built, "snapchat", "ca")["data_processing_options"] == ["LDU"]
    assert body(built, "reddit", "ca")["user"]["data_processing_options"] == {
        "modes": ["LDU"], "country": "US", "region": "US-CA",
    }  # fmt: skip
    assert body(built, "reddit", "forced")["user"]["data_processing_options"] == {"modes": ["LDU"]}
    assert "limited_data_use" not in body(built, "tiktok", "forced")  # only meta/reddit forced


def test_google_payload_carries_the_consent_object(built: tw.Warehouse) -> None:
    assert body(built, "google_ads", "ca")["consent"] == {
        "adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED",
    }  # fmt: skip
    assert body(built, "google_ads", "nopers")["consent"] == {
        "adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_DENIED",
    }  # fmt: skip
    # No answer: the workspace default for ad user data, personalization unspecified.
    assert body(built, "google_ads", "silent")["consent"] == {"adUserData": "CONSENT_GRANTED"}


def test_denied_ad_use_is_never_sent_to_an_ad_platform(built: tw.Warehouse) -> None:
    for destination in AD:
        frame = built.payloads(destination).filter(event_id="denied")
        assert frame["skip_reason"].to_list() == ["consent_denied"], destination


def test_privacy_payloads_conform(built: tw.Warehouse) -> None:
    for destination in AD:
        result = check_conformance(built.conn, destination)
        assert result.ok and result.checked > 0, (destination, result.counts())


def test_classic_google_api_and_a_denying_default(tmp_path: Path) -> None:
    config = json.loads(json.dumps(CONFIG))
    config["privacy"] = {"default_ad_user_data": "denied", "ldu_from_consent": False}
    config["destinations"]["google_ads"]["api"] = "upload_click_conversions"
    with _build(tmp_path, config) as wh:
        assert wh.payloads("meta").filter(event_id="silent")["skip_reason"][0] == "consent_denied"
        # The Google Ads API takes ad_personalization only for user-data uploads.
        assert body(wh, "google_ads", "nopers")["consent"] == {"adUserData": "GRANTED"}
        assert "data_processing_options" not in body(wh, "meta", "nopers")  # consent off
        assert "data_processing_options" not in body(wh, "meta", "ca")  # no regions
        assert body(wh, "meta", "forced")["data_processing_options"] == ["LDU"]
        assert check_conformance(wh.conn, "google_ads").ok


def test_changing_privacy_settings_rebuilds_ad_rows(tmp_path: Path) -> None:
    with _build(tmp_path, CONFIG) as wh:
        pass
    config = json.loads(json.dumps(CONFIG))
    config["privacy"]["ldu_regions"] = ["*"]
    with tw.connect(tmp_path / "wh.duckdb", config=parse_config(config)) as wh:
        results = {r.destination: r for r in wh.build_payloads(as_of=AS_OF)}
        assert results["meta"].rebuilt > 0
        assert body(wh, "meta", "tx")["data_processing_options"] == ["LDU"]


@pytest.mark.parametrize(
    ("privacy", "message"),
    [
        ({"ldu_regions": ["us-ca"]}, "privacy.ldu_regions"),
        ({"default_ad_user_data": "yes"}, "privacy.default_ad_user_data"),
        ({"ldu": True}, "unknown key privacy.ldu"),
    ],
)
def test_privacy_config_is_checked(privacy: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config({"privacy": privacy})


def test_the_emulator_checks_the_privacy_fields() -> None:
    from trackstack_lab.emulator import privacy
    from trackstack_lab.emulator.platforms import meta

    event = {"event_name": "Lead", "event_time": int(T.timestamp()), "action_source": "email",
             "user_data": {"external_id": ["a" * 64]}}  # fmt: skip
    now = AS_OF.timestamp()
    assert meta.check_event({**event, "data_processing_options_country": 1}, now, None) is not None
    ok = {"data_processing_options": ["LDU"], "data_processing_options_country": 1,
          "data_processing_options_state": 1000}  # fmt: skip
    assert meta.check_event({**event, **ok}, now, None) is None
    bad_state = {**ok, "data_processing_options_state": 1001}
    assert meta.check_event({**event, **bad_state}, now, None) is not None
    assert meta.check_event({**event, "data_processing_options": ["XYZ"]}, now, None) is not None
    assert privacy.google_consent_problem({"adUserData": "GRANTED"}, privacy.DATA_MANAGER_CONSENT)
    assert privacy.reddit_problem({"data_processing_options": {"modes": ["LDU"]}}) is None
    assert privacy.reddit_problem({"data_processing_options": {"modes": "LDU"}}) is not None


@pytest.mark.integration
def test_privacy_signals_are_delivered_to_the_emulator(tmp_path: Path) -> None:
    config = json.loads(json.dumps(CONFIG))
    for name, settings in config["destinations"].items():
        settings["access_token_env"] = f"T_{name.upper()}"
    config["destinations"]["google_ads"]["developer_token_env"] = "T_GOOGLE_DEV"
    with _build(tmp_path, config) as wh:
        ready = {d: wh.payloads(d, status="ready").height for d in AD}
        report = wh.push_to_emulator(as_of=AS_OF)
        delivered = wh.deliveries(outcome="delivered").group_by("destination").len()
    assert report.ok, report.df
    assert dict(delivered.iter_rows()) == ready
