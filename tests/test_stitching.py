"""Match keys stitched across a person's events: the journey corpus (ad landing ->
sign-up -> server-side purchase), shared devices, denied consent, provenance, hashing,
and incremental runs that equal a rebuild."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import trackstack_wh as tw
from tests.helpers import write_lines
from trackstack_lab.journeys import Journey, journeys
from trackstack_wh.config import parse_config

START = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)
AS_OF = START + dt.timedelta(days=1, hours=6)
PEOPLE = 120

CONFIG: dict[str, Any] = {
    "workspace": {"value_unit": "minor", "phone_region": "US"},
    "destinations": {
        "meta": {"enabled": True, "pixel_id": "123"},
        "google_ads": {
            "enabled": True,
            "customer_id": "123-456-7890",
            "events": ["SignUp", "Purchase"],
            "conversion_actions": {"SignUp": "11", "Purchase": "12"},
        },
        "tiktok": {"enabled": True, "pixel_code": "PIX"},
        "hubspot": {"enabled": True, "portal_id": "42"},
    },
}


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def rows_by_event(wh: tw.Warehouse, destination: str) -> dict[str, dict[str, Any]]:
    frame = wh.payloads(destination).filter(pl.col("request_kind") != "contact")
    out = {}
    for row in frame.iter_rows(named=True):
        row["body"] = json.loads(row["payload"]) if row["payload"] else None
        row["sources"] = json.loads(row["key_sources"]) if row["key_sources"] else {}
        out[row["event_id"]] = row
    return out


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    tmp = tmp_path_factory.mktemp("journeys")
    lines, expected = journeys(PEOPLE, START)
    wh = tw.connect(tmp / "wh.duckdb", config=parse_config(CONFIG))
    report = wh.ingest(write_lines(tmp / "journeys.ndjson", lines))
    assert report.files[0].rows_quarantined == 0, wh.quarantine()["detail"].to_list()
    wh.build_payloads(as_of=AS_OF)
    yield wh, expected
    wh.close()


def carries_everything(meta: dict, google: dict, tiktok: dict, j: Journey) -> bool:
    user = meta["body"]["user_data"]
    return (
        user.get("em") == [sha(j.email)]
        and user.get("client_user_agent") == j.user_agent
        and user.get("fbc") == j.fbc
        and j.gclid in google["payload"]
        and j.ttclid in tiktok["payload"]
    )


def test_server_side_purchases_carry_the_journeys_keys_with_provenance(corpus: Any) -> None:
    wh, expected = corpus
    meta, google, tiktok = (rows_by_event(wh, d) for d in ("meta", "google_ads", "tiktok"))
    linked = [j for j in expected if j.variant in ("direct", "identify")]
    assert len(linked) > PEOPLE * 0.7
    complete = [
        j for j in linked
        if carries_everything(meta[j.purchase_id], google[j.purchase_id], tiktok[j.purchase_id], j)
    ]  # fmt: skip
    assert len(complete) / len(linked) >= 0.95
    for j in linked:
        sources = meta[j.purchase_id]["sources"]
        assert sources["external_id"] == {"from": "self"}
        assert sources["browser"]["id"] == j.signup_id
        assert sources["fbc"]["id"] == j.landing_id
        email_from = "identify" if j.variant == "identify" else "event"
        assert sources["email"]["from"] == email_from
        if j.variant == "direct":
            assert sources["email"]["id"] == j.signup_id
        assert google[j.purchase_id]["sources"]["google_click"]["id"] == j.landing_id
        assert tiktok[j.purchase_id]["sources"]["ttclid"]["id"] == j.landing_id
        assert meta[j.purchase_id]["status"] == "ready"


def test_stitched_keys_are_hashed_like_the_events_own(corpus: Any) -> None:
    wh, expected = corpus
    meta = rows_by_event(wh, "meta")
    tiktok = rows_by_event(wh, "tiktok")
    for j in expected[:20]:
        if j.variant != "direct":
            continue
        purchase, signup = meta[j.purchase_id]["body"], meta[j.signup_id]["body"]
        assert purchase["user_data"]["em"] == signup["user_data"]["em"] == [sha(j.email)]
        assert (
            purchase["user_data"]["client_ip_address"] == signup["user_data"]["client_ip_address"]
        )
        assert tiktok[j.purchase_id]["body"]["user"]["email"] == sha(j.email)


def test_a_shared_device_links_nobody(corpus: Any) -> None:
    wh, expected = corpus
    meta, google = rows_by_event(wh, "meta"), rows_by_event(wh, "google_ads")
    shared = [j for j in expected if j.variant == "shared"]
    assert len(shared) >= 10
    others = {j.email for j in shared}
    for j in shared:
        user = meta[j.purchase_id]["body"]["user_data"]
        assert user["em"] == [sha(j.email)]
        assert not {sha(e) for e in others - {j.email}} & set(user["em"])
        assert "fbc" not in user
        assert j.gclid not in (google[j.purchase_id]["payload"] or "")
    people = wh.sql("select event_id, person from event_people").rows()
    assert dict(people)[shared[0].landing_id] is None


def test_a_person_who_denied_ad_use_gets_nothing_stitched(corpus: Any) -> None:
    wh, expected = corpus
    meta = rows_by_event(wh, "meta")
    denied = [j for j in expected if j.variant == "denied"]
    assert denied
    for j in denied:
        row = meta[j.purchase_id]
        assert row["sources"] == {"external_id": {"from": "self"}}
        assert set(row["body"]["user_data"]) == {"external_id"}
        assert meta[j.signup_id]["skip_reason"] == "consent_denied"


def test_quality_shows_the_score_before_and_after_stitching(corpus: Any) -> None:
    wh, expected = corpus
    direct = next(j for j in expected if j.variant == "direct")
    score, stitched = wh.sql(
        "select score, score_stitched from event_quality where event_id = $id",
        id=direct.purchase_id,
    ).row(0)
    assert stitched > score
    landing_person = wh.sql(
        "select person from event_people where event_id = $id", id=direct.landing_id
    ).item()
    assert landing_person == direct.person


def test_crms_and_opted_out_destinations_take_only_the_events_own_keys(tmp_path: Path) -> None:
    config = json.loads(json.dumps(CONFIG))
    config["destinations"]["meta"]["stitching"] = ["clicks"]
    lines, expected = journeys(6, START, shared_every=0, denied_every=0)
    with tw.connect(tmp_path / "w.duckdb", config=parse_config(config)) as wh:
        wh.ingest(write_lines(tmp_path / "j.ndjson", lines))
        wh.build_payloads(as_of=AS_OF)
        meta = rows_by_event(wh, "meta")
        hubspot = wh.payloads("hubspot").filter(pl.col("event_id") == expected[0].purchase_id)
    user = meta[expected[0].purchase_id]["body"]["user_data"]
    assert user["fbc"] == expected[0].fbc and "em" not in user
    assert "email" not in meta[expected[0].purchase_id]["sources"]
    assert all(k is None for k in hubspot["key_sources"].to_list())
    assert all("person." not in (p or "") for p in hubspot["payload"].to_list())


def payload_state(wh: tw.Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    state = {}
    for destination in ("meta", "google_ads", "tiktok"):
        frame = wh.payloads(destination).sort("event_id", "request_kind")
        state[destination] = frame.select(
            "event_id", "request_kind", "status", "skip_reason", "payload", "key_sources"
        ).rows()
    state["stitch"] = wh.sql("select * from event_stitch order by event_id").rows()
    state["people"] = wh.sql("select * from person_rows order by row_kind, row_id").rows()
    state["scores"] = wh.sql(
        "select event_id, score, score_stitched from event_quality order by event_id"
    ).rows()
    return state


def test_late_identities_and_events_give_what_a_rebuild_gives(tmp_path: Path) -> None:
    """Purchases first, then the sign-ups and identify records that explain them, then
    the landings: each step incremental, the end equal to a full rebuild."""
    lines, _ = journeys(40, START)
    purchases = [x for x in lines if '"Purchase"' in x]
    identifies = [x for x in lines if '"identify"' in x]
    signups = [x for x in lines if '"SignUp"' in x]
    landings = [x for x in lines if '"PageView"' in x]
    assert len(purchases) + len(identifies) + len(signups) + len(landings) == len(lines)
    config = parse_config(CONFIG)
    with tw.connect(tmp_path / "inc.duckdb", config=config) as wh:
        for n, part in enumerate((purchases, signups[:20], identifies, signups[20:], landings)):
            wh.ingest(write_lines(tmp_path / f"part{n}.ndjson", part))
            run = wh.refresh_quality()
            assert run.mode == ("full" if n == 0 else "incremental")
            wh.build_payloads(as_of=AS_OF)
        incremental = payload_state(wh)
        wh.refresh_quality(force=True)
        wh.build_payloads(as_of=AS_OF, rebuild=True)
        assert payload_state(wh) == incremental
    purchase = next(r for r in incremental["meta"] if r[0] == "purchase_2")
    assert json.loads(purchase[5])["fbc"]["id"] == "land_2"


@pytest.mark.parametrize(("default", "lends"), [(None, True), ("granted", True), ("denied", False)])
def test_a_row_without_consent_lends_keys_only_if_the_workspace_default_allows(
    tmp_path: Path, default: str | None, lends: bool
) -> None:
    from tests.helpers import WEB, event_line

    granted = {"ad_user_data": "granted"}
    lines = [
        event_line("SignUp", "signup", START, externalId="u1", email="pat@acme.example", **WEB),
        event_line("Purchase", "buy", START + dt.timedelta(hours=2), externalId="u1",
                   value=900, currency="USD", transactionId="t1", consent=granted),
    ]  # fmt: skip
    privacy = {"privacy": {"default_ad_user_data": default}} if default else {}
    config = parse_config({"destinations": {"meta": {"enabled": True, "pixel_id": "1"}},
                           **privacy})  # fmt: skip
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        wh.ingest(write_lines(tmp_path / "e.ndjson", lines))
        wh.refresh_quality()
        stitched = wh.sql("select email_sha256 from event_stitch where event_id = 'buy'")
    expected = [sha("pat@acme.example")] if lends else []
    assert stitched["email_sha256"].to_list() == expected
