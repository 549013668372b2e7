"""Funnel report on a hand-made data set whose answers are worked out by hand, and
cross-checked against an independent pure-Python computation of the same rules."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from pathlib import Path

import orjson
import polars as pl
import pytest

import trackstack_wh as tw

STAGES = ["Awareness", "Interest", "Acquisition", "Activation", "Revenue"]
STAGE_OF = {
    "PageView": "Awareness", "LeadCaptured": "Interest", "DemoBooked": "Interest",
    "SignUp": "Acquisition", "FirstAction": "Activation", "Purchase": "Revenue",
    "SubscriptionStarted": "Revenue", "Refund": "Revenue", "Chargeback": "Revenue",
    "Churned": "Revenue",
}  # fmt: skip
LOSSES = {"Refund", "Chargeback", "Churned"}


def _e(eid: str, event: str, ts: str, **fields: object) -> dict:
    return {"eventId": eid, "event": event, "ts": f"2026-03-{ts}:00Z", **fields}


ALICE = {"email": "Alice@A.example ", "companyDomain": "a.example"}
BOB = {"externalId": "u_bob", "email": "bob@b.example", "companyDomain": "b.example"}
ERIN = {"externalId": "u_erin", "email": "erin@c.example", "companyDomain": "c.example"}
HAND_MADE = [
    # alice: anonymous-by-ID page view and lead (email only), then signs up with her ID
    _e("a1", "PageView", "02T10:00", **ALICE, gclid="g-1", session_id="s-a",
       referrer="https://www.google.com/search?q=x", pageUrl="https://x.example/"),
    _e("a2", "LeadCaptured", "02T12:00", **ALICE),
    _e("a3", "SignUp", "03T10:00", **ALICE, externalId="u_alice"),
    _e("a4", "FirstAction", "04T10:00", externalId="u_alice", companyDomain="a.example",
       actionType="import"),
    _e("a5", "Purchase", "06T10:00", externalId="u_alice", companyDomain="a.example",
       value=9900, currency="USD", transactionId="t1", plan="pro"),
    _e("a6", "Refund", "20T10:00", externalId="u_alice", companyDomain="a.example",
       value=9900, currency="usd", transactionId="t1", refundId="r1"),
    # bob: a page view with no identity at all, joined to him through the session
    _e("b1", "PageView", "03T09:00", companyDomain="b.example", sessionId="s-b",
       referrer="https://news.ycombinator.com/item?id=1", pageUrl="https://x.example/"),
    _e("b2", "SignUp", "03T09:30", **BOB, sessionId="s-b"),
    _e("b3", "SubscriptionStarted", "10T09:30", **BOB, value=4900, currency="EUR",
       transactionId="t2", plan="starter"),
    # carol: email only, never signs up
    _e("c1", "PageView", "04T08:00", email="carol@c.example", companyDomain="c.example",
       pageUrl="https://x.example/"),
    _e("c2", "DemoBooked", "05T08:00", email="carol@c.example", companyDomain="c.example"),
    # dave: nobody (no ID, email or session): an event, a company, no person
    _e("d1", "PageView", "10T08:00", companyDomain="d.example",
       referrer="https://www.linkedin.com/feed", pageUrl="https://x.example/"),
    # erin: from a Meta click, signs up, churns and charges back
    _e("e1", "PageView", "09T10:00", email="erin@c.example", companyDomain="c.example",
       fbclid="fb-1", pageUrl="https://x.example/"),
    _e("e2", "SignUp", "09T11:00", **ERIN),
    _e("e3", "Churned", "11T10:00", **ERIN),
    _e("e4", "Chargeback", "12T10:00", **ERIN, value=1000, currency="GBP", transactionId="t9",
       refundId="cb1"),
]  # fmt: skip
W1, W2, W3 = dt.date(2026, 3, 2), dt.date(2026, 3, 9), dt.date(2026, 3, 16)


@pytest.fixture(scope="module")
def hand_wh(tmp_path_factory: pytest.TempPathFactory) -> tw.Warehouse:
    root = tmp_path_factory.mktemp("funnel")
    src = root / "hand_made.ndjson"
    src.write_bytes(b"\n".join(orjson.dumps(e) for e in HAND_MADE) + b"\n")
    (root / "empty.toml").write_text("")
    wh = tw.connect(root / "wh.duckdb", config=root / "empty.toml")
    report = wh.ingest(src)
    assert report.totals()["rows_valid"] == len(HAND_MADE), report
    return wh


def _stage_rows(frame: pl.DataFrame, period: dt.date | None = None) -> dict[str, tuple]:
    if period is not None:
        frame = frame.filter(pl.col("period") == period)
    return {
        r["stage"]: (r["events"], r["people"], r["companies"]) for r in frame.iter_rows(named=True)
    }


def test_stage_counts_per_week_match_the_hand_worked_answers(hand_wh: tw.Warehouse) -> None:
    stages = hand_wh.funnel("week").df
    assert sorted(set(stages["period"])) == [W1, W2]  # week 3 holds only a refund (a loss)
    assert _stage_rows(stages, W1) == {
        "Awareness": (3, 3, 3),  # alice (email -> u_alice), bob (session), carol
        "Interest": (2, 2, 2),
        "Acquisition": (2, 2, 2),
        "Activation": (1, 1, 1),
        "Revenue": (1, 1, 1),
    }
    assert _stage_rows(stages, W2) == {
        "Awareness": (2, 1, 2),  # dave has no person but has a company
        "Interest": (0, 0, 0),
        "Acquisition": (1, 1, 1),
        "Activation": (0, 0, 0),
        "Revenue": (1, 1, 1),  # bob's subscription; erin's churn and chargeback are losses
    }
    w1 = stages.filter(pl.col("period") == W1).sort("stage_order")
    assert w1["ratio_to_previous_stage"].to_list()[1:] == pytest.approx([2 / 3, 1.0, 0.5, 1.0])
    assert w1["ratio_to_awareness"].to_list() == pytest.approx([1.0, 2 / 3, 2 / 3, 1 / 3, 1 / 3])


def test_totals_count_each_person_once_across_the_window(hand_wh: tw.Warehouse) -> None:
    totals = hand_wh.funnel("month").tables["totals"]
    assert _stage_rows(totals) == {
        "Awareness": (5, 4, 4),
        "Interest": (2, 2, 2),
        "Acquisition": (3, 3, 3),
        "Activation": (1, 1, 1),
        "Revenue": (2, 2, 2),
    }


def test_revenue_is_in_major_units_per_currency_net_of_refunds(hand_wh: tw.Warehouse) -> None:
    funnel = hand_wh.funnel("week")
    revenue = {
        (r["period"], r["currency"]): r for r in funnel.tables["revenue"].iter_rows(named=True)
    }
    assert revenue[(W1, "USD")]["gross_revenue"] == 99.0
    assert revenue[(W2, "EUR")]["gross_revenue"] == 49.0
    assert revenue[(W2, "GBP")]["charged_back"] == 10.0
    assert revenue[(W2, "GBP")]["net_revenue"] == -10.0
    assert revenue[(W2, "(none)")]["churned"] == 1
    assert revenue[(W3, "USD")]["refunded"] == 99.0
    headline = funnel.headline()
    assert headline["net_revenue"] == {"EUR": 49.0, "GBP": -10.0, "USD": 0.0}
    assert (headline["refunds"], headline["chargebacks"], headline["churned"]) == (1, 1, 1)
    assert headline["people"] == dict(zip(STAGES, [4, 2, 3, 1, 2], strict=True))
    assert headline["signups"] == 3


def test_major_unit_values_are_taken_as_given(hand_wh: tw.Warehouse, tmp_path: Path) -> None:
    config = tmp_path / "major.toml"
    config.write_text('[workspace]\nvalue_unit = "major"\n')
    with tw.connect(hand_wh.path, config=config, read_only=False) as other:
        revenue = other.funnel("month").tables["revenue"]
    assert revenue.filter(currency="USD")["gross_revenue"].item() == 9900.0


def test_median_times_to_signup_and_to_revenue(hand_wh: tw.Warehouse) -> None:
    timing = {r["period"]: r for r in hand_wh.funnel("week").tables["timing"].iter_rows(named=True)}
    # alice: 24 h from first touch, 3 days to revenue; bob: 0.5 h, 7 days; erin: 1 h, none
    assert timing[W1]["signups"] == 2
    assert timing[W1]["median_hours_first_touch_to_signup"] == pytest.approx(12.25)
    assert timing[W1]["reached_revenue"] == 2
    assert timing[W1]["median_days_signup_to_revenue"] == pytest.approx(5.0)
    assert timing[W2]["signups"] == 1
    assert timing[W2]["median_hours_first_touch_to_signup"] == pytest.approx(1.0)
    assert timing[W2]["median_days_signup_to_revenue"] is None


def test_weekly_signup_cohorts(hand_wh: tw.Warehouse) -> None:
    cohorts = hand_wh.funnel().tables["cohorts"]
    got = {
        (r["cohort_week"], r["weeks_since_signup"]): (r["active_people"], r["paying_people"])
        for r in cohorts.iter_rows(named=True)
    }
    assert got == {(W1, 0): (2, 1), (W1, 1): (1, 1), (W1, 2): (1, 0), (W2, 0): (1, 0)}
    assert cohorts.filter(cohort_week=W1)["retention"].to_list() == [1.0, 0.5, 0.5]


def test_breakdowns_by_channel_referrer_and_plan(hand_wh: tw.Warehouse) -> None:
    channel = hand_wh.funnel("month", by="channel").tables["totals"]
    people = {(r["channel"], r["stage"]): r["people"] for r in channel.iter_rows(named=True)}
    assert people[("google_ads", "Revenue")] == 1  # alice's first touch was a Google click
    assert people[("referral", "Revenue")] == 1  # bob came from a referrer
    assert people[("meta", "Acquisition")] == 1  # erin
    assert people[("direct", "Interest")] == 1  # carol
    events = {(r["channel"], r["stage"]): r["events"] for r in channel.iter_rows(named=True)}
    assert events[("referral", "Awareness")] == 2  # bob's and dave's page views
    referrer = hand_wh.funnel("month", by="referrer").tables["totals"]
    hosts = set(referrer.filter(pl.col("people") > 0)["referrer"])
    assert hosts == {"google.com", "news.ycombinator.com", "(direct)"}
    plan = hand_wh.funnel("month", by="plan").tables["totals"]
    paying = plan.filter(stage="Revenue", people=1)["plan"].sort().to_list()
    assert paying == ["pro", "starter"]


def test_independent_python_computation_agrees(hand_wh: tw.Warehouse) -> None:
    """People per week and stage, computed from the raw dicts with the documented rules."""
    email_to_id = {
        e["email"].strip().lower(): e["externalId"]
        for e in HAND_MADE
        if e.get("email") and e.get("externalId")
    }
    session_to_person: dict[str, str] = {}
    for e in HAND_MADE:
        sid = e.get("sessionId") or e.get("session_id")
        who = e.get("externalId") or email_to_id.get((e.get("email") or "").strip().lower())
        if sid and who:
            session_to_person[sid] = who
    people: dict[tuple[dt.date, str], set] = defaultdict(set)
    for e in HAND_MADE:
        if e["event"] in LOSSES:
            continue
        email = (e.get("email") or "").strip().lower()
        sid = e.get("sessionId") or e.get("session_id")
        who = e.get("externalId") or email_to_id.get(email) or email or session_to_person.get(sid)
        day = dt.datetime.fromisoformat(e["ts"]).date()
        week = day - dt.timedelta(days=day.weekday())
        if who:
            people[(week, STAGE_OF[e["event"]])].add(who)
    expected = {k: len(v) for k, v in people.items() if v}
    stages = hand_wh.funnel("week").df.filter(pl.col("people") > 0)
    got = {(r["period"], r["stage"]): r["people"] for r in stages.iter_rows(named=True)}
    assert got == expected


def test_window_period_and_by_are_checked(hand_wh: tw.Warehouse) -> None:
    march_2_to_8 = tw.TimeWindow.days("2026-03-02", "2026-03-08")
    totals = hand_wh.funnel("day", window=march_2_to_8).tables["totals"]
    assert _stage_rows(totals)["Awareness"] == (3, 3, 3)
    with pytest.raises(ValueError, match="period='fortnight'"):
        hand_wh.funnel("fortnight")
    with pytest.raises(ValueError, match="by='country'"):
        hand_wh.funnel(by="country")


def test_people_come_from_identify_records_and_a_shared_session_links_nobody(
    tmp_path: Path,
) -> None:
    records = [
        # a shared device: two people sign up in one session; its page view is nobody's
        _e("s1", "PageView", "02T09:00", sessionId="shared", pageUrl="https://x.example/"),
        _e("s2", "SignUp", "02T09:10", sessionId="shared", **ALICE, externalId="u_alice"),
        _e("s3", "SignUp", "02T09:20", sessionId="shared", **BOB),
        # an identify record names the visitor of session "solo" and links an email
        _e("v1", "PageView", "02T10:00", sessionId="solo", pageUrl="https://x.example/"),
        {"type": "identify", "userId": "u_vic", "sessionId": "solo",
         "traits": {"email": "Vic@V.example"}, "ts": "2026-03-02T10:05:00Z"},
        _e("v2", "DemoBooked", "03T10:00", email="vic@v.example"),
    ]  # fmt: skip
    src = tmp_path / "people.ndjson"
    src.write_bytes(b"\n".join(orjson.dumps(e) for e in records) + b"\n")
    (tmp_path / "empty.toml").write_text("")
    with tw.connect(tmp_path / "wh.duckdb", config=tmp_path / "empty.toml") as wh:
        wh.ingest(src)
        people = dict(wh.sql("select event_id, person from event_people").rows())
    assert people == {"s1": None, "s2": "u_alice", "s3": "u_bob", "v1": "u_vic", "v2": "u_vic"}
