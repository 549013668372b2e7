"""Quality scores, match keys per destination and per-destination dedup windows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

import trackstack_wh as tw
from tests.helpers import write_lines
from trackstack_wh.errors import StaleDataError
from trackstack_wh.identity import Key, hashed
from trackstack_wh.quality import COMPONENT_POINTS

T0 = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
RECEIVED = dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
PREHASHED = hashed(Key.EMAIL, "buyer@acme.example")[0]


def _event(name: str, event_id: str, at: dt.datetime, **fields: object) -> str:
    return json.dumps({"event": name, "eventId": event_id, "ts": at.isoformat(), **fields})


def _purchase(event_id: str, at: dt.datetime, txn: str = "txn_1", **fields: object) -> str:
    money: dict[str, object] = {"value": 99.0, "currency": "USD", "transactionId": txn}
    return _event("Purchase", event_id, at, **{**money, **fields})


def _load(wh: tw.Warehouse, tmp_path: Path, lines: list[str], name: str = "in") -> None:
    report = wh.ingest(write_lines(tmp_path / f"{name}.ndjson", lines), received_at=RECEIVED)
    assert report.files[0].rows_valid == len(lines)
    wh.refresh_quality()


def test_client_and_server_copies_of_a_purchase_are_sent_once(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    _load(
        wh,
        tmp_path,
        [
            _purchase("browser-1", T0, email="a@b.co"),
            _purchase("server-1", T0 + dt.timedelta(seconds=30), email="a@b.co"),
            _purchase("late-1", T0 + dt.timedelta(hours=50)),
            _purchase("other-txn", T0, txn="txn_2"),
            _event("Refund", "refund-1", T0, value=99.0, currency="USD", transactionId="txn_1"),
        ],
    )
    decisions = wh.destination_dedup()
    server = decisions.filter(event_id="server-1")
    assert set(server["destination"]) == {
        "meta", "google_ads", "linkedin", "tiktok", "snapchat", "reddit", "hubspot"
    }  # fmt: skip
    assert set(server["reason"]) == {"duplicate_transaction_id"}
    assert set(server["duplicate_of"]) == {"browser-1"}
    assert decisions.filter(event_id="late-1").is_empty(), "50 h is outside every window"
    assert decisions.filter(event_id="other-txn").is_empty()
    assert decisions.filter(event_id="refund-1").is_empty(), "Refund is not sent to ad platforms"
    quality = wh.quality().to_dicts()
    by_id = {q["event_id"]: q for q in quality}
    assert by_id["server-1"]["components"]["unique"] == 0
    assert "duplicate_transaction_id" in by_id["server-1"]["warnings"]
    assert by_id["browser-1"]["components"]["unique"] == COMPONENT_POINTS["unique"]

    wh.refresh_quality(dedup_windows={"meta": dt.timedelta(hours=72), "google_ads": None})
    late = wh.destination_dedup().filter(event_id="late-1")
    assert set(late["destination"]) == {"meta", "google_ads"}
    assert set(late["duplicate_of"]) == {"server-1"}
    with pytest.raises(ValueError, match="no dedup rule"):
        wh.refresh_quality(dedup_windows={"myspace": None})


def test_score_components_add_up_and_explain_the_score(wh: tw.Warehouse, tmp_path: Path) -> None:
    _load(
        wh,
        tmp_path,
        [
            _event(
                "SignUp",
                "rich",
                T0,
                email=" Ann@Acme.example ",
                phone="+1 650 555 1212",
                gclid="Cj0K1",
                externalId="u1",
                clientIp="203.0.113.9",
                userAgent="UA",
                firstName="Ann",
                lastName="Lee",
                zip="94025",
                country="US",
            ),
            _event("PageView", "bare", T0),
            _event("SignUp", "prehashed", T0, email=PREHASHED.upper()),
            _event("PartnerWebinar", "ext", T0, email="x@y.co"),
            _purchase("free", T0, value=0, txn="t0"),
            _event("SignUp", "badphone", T0, email="b@c.co", phone="12"),
        ],
    )
    q = {row["event_id"]: row for row in wh.quality().to_dicts()}
    for row in q.values():
        assert row["score"] == pytest.approx(sum(row["components"].values()))
        assert 0 <= row["score"] <= 10
    assert q["rich"]["score"] == pytest.approx(10)
    assert q["rich"]["warnings"] == []
    assert q["rich"]["match_keys"]["google_ads"] == [
        "hashedEmail", "hashedPhoneNumber", "hashedFirstName", "hashedLastName", "postalCode",
        "countryCode", "gclid",
    ]  # fmt: skip
    assert "fbc" not in q["rich"]["match_keys"]["meta"]
    assert q["bare"]["score"] < 4
    assert {"low_quality", "no_strong_match_keys", "missing_recommended:pageUrl"} <= set(
        q["bare"]["warnings"]
    )
    assert q["ext"]["components"]["canonical"] == 0 and "extension_event" in q["ext"]["warnings"]
    assert "revenue_without_value" in q["free"]["warnings"]
    assert "invalid_phone" in q["badphone"]["warnings"]
    assert q["badphone"]["components"]["phone"] == 0

    identity = wh.sql("select * from event_identity where event_id = 'prehashed'").row(
        0, named=True
    )
    assert identity["email_sha256"] == identity["email_google_sha256"] == PREHASHED
    assert identity["email_reddit_sha256"] == PREHASHED


def test_summaries_by_event_stage_and_destination(wh: tw.Warehouse, tmp_path: Path) -> None:
    _load(
        wh,
        tmp_path,
        [_event("SignUp", f"s{i}", T0, email=f"u{i}@acme.example") for i in range(5)]
        + [_event("PageView", f"p{i}", T0, pageUrl="https://x.example/") for i in range(3)],
    )
    by_event = wh.quality_summary(by="event_name")
    assert dict(zip(by_event["event_name"], by_event["events"], strict=True)) == {
        "SignUp": 5,
        "PageView": 3,
    }
    assert wh.quality_summary(by="stage")["events"].sum() == 8
    by_destination = wh.quality_summary(by="destination")
    assert set(by_destination["destination"]) == {
        "meta", "google_ads", "linkedin", "tiktok", "snapchat", "reddit"
    }  # fmt: skip
    meta = by_destination.filter(destination="meta").row(0, named=True)
    assert meta["events"] == 8 and meta["share_with_match_keys"] == pytest.approx(5 / 8)
    with pytest.raises(ValueError, match="one of"):
        wh.quality_summary(by="planet")


def test_quality_follows_new_ingests_and_skips_unchanged_runs(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    _load(wh, tmp_path, [_event("SignUp", "a", T0, email="a@acme.example")], "one")
    assert wh.quality().height == 1
    assert not wh.refresh_quality().ran
    _load(wh, tmp_path, [_event("SignUp", "b", T0, email="b@acme.example")], "two")
    assert wh.quality().height == 2
    assert wh.refresh_quality(phone_region=None).ran


def test_read_methods_report_stale_quality_and_never_write(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    with pytest.raises(StaleDataError, match="no quality scores yet"):
        wh.quality()
    _load(wh, tmp_path, [_event("SignUp", "a", T0, email="a@acme.example")], "one")
    runs = wh.sql("select count(*) from quality_runs").item()
    wh.ingest(
        write_lines(tmp_path / "two.ndjson", [_event("SignUp", "b", T0, email="b@acme.example")])
    )
    for read in (wh.quality, wh.quality_summary, wh.destination_dedup, wh.quality_report):
        with pytest.raises(StaleDataError, match=r"since quality was last refreshed.*refresh_q"):
            read()
    assert wh.sql("select count(*) from quality_runs").item() == runs, "a read wrote"
    assert wh.refresh_quality().ran and wh.quality().height == 2


def test_payload_builds_use_the_quality_settings_recorded_in_the_warehouse(
    tmp_path: Path,
) -> None:
    db = tmp_path / "settings.duckdb"
    with tw.connect(db) as first:
        first.ingest(write_lines(tmp_path / "a.ndjson", [_purchase("p1", T0, email="a@b.co")]))
        first.refresh_quality(dedup_windows={"meta": None}, phone_region="DE")
    with tw.connect(db) as second:
        second.ingest(
            write_lines(
                tmp_path / "b.ndjson", [_purchase("p2", T0 + dt.timedelta(days=9), email="a@b.co")]
            )
        )
        second.build_payloads(as_of=T0 + dt.timedelta(days=10))
        settings = second.sql(
            "select settings from quality_runs order by run_at desc limit 1"
        ).item()
        assert '"phone_region": "DE"' in settings and '"meta": null' in settings
        suppressed = second.destination_dedup().filter(destination="meta")
        assert suppressed["event_id"].to_list() == ["p2"], "the unlimited meta window held"
