"""Conversion funnels (issue 30): the SQL against hand-worked answers and against an
independent brute-force computation in pure Python, over hand-built and generated
people; properties (people never increase along the steps, a wider window never lowers
a count); drop-off lists (and consent), cohorts, breakdowns, safe filters, charts and
the CLI. The hand-built people and the reference live in ``tests/funnel_reference.py``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import duckdb
import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import trackstack_wh as tw
from tests.funnel_reference import (
    DAY,
    FOUR,
    HAND_MADE,
    NAMES,
    T0,
    counts,
    generate,
    hand_event,
    hand_people,
    load,
    named,
    reference,
    reference_paths,
)
from tests.helpers import ROOT
from trackstack_wh.cli import main
from trackstack_wh.config.privacy import PrivacySettings
from trackstack_wh.delivery.reconcile import BUCKETS, Reconciliation
from trackstack_wh.errors import UsageError
from trackstack_wh.funnels import ConversionFunnel, Step, conversion_funnel
from trackstack_wh.funnels import compute as compute_module
from trackstack_wh.funnels import report as report_module
from trackstack_wh.funnels import steps as steps_module
from trackstack_wh.funnels.attributes import PERSONAL_COLUMNS
from trackstack_wh.funnels.steps import Condition


@pytest.fixture(scope="module")
def hand_wh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tw.Warehouse]:
    root = tmp_path_factory.mktemp("conversion")
    src = root / "hand_made.ndjson"
    src.write_bytes(b"\n".join(orjson.dumps(e) for e in HAND_MADE) + b"\n")
    (root / "empty.toml").write_text("")
    with tw.connect(root / "wh.duckdb", config=root / "empty.toml") as wh:
        report = wh.ingest(src)
        assert report.totals()["rows_valid"] == len(HAND_MADE), report
        yield wh


def test_hand_built_funnel_matches_the_hand_worked_answers(hand_wh: tw.Warehouse) -> None:
    funnel = hand_wh.conversion_funnel(FOUR, window=dt.timedelta(days=14))
    df = funnel.df
    assert df["step"].to_list() == FOUR
    assert df["people"].to_list() == [6, 5, 3, 2]  # fay is nobody; hal never entered
    assert df["conversion_from_previous"].to_list()[1:] == pytest.approx([5 / 6, 3 / 5, 2 / 3])
    assert df["conversion_from_first"].to_list() == pytest.approx([1, 5 / 6, 3 / 6, 2 / 6])
    hours = [None if v is None else v.total_seconds() / 3600
             for v in df["median_time_from_previous"].to_list()]  # fmt: skip
    # step 2: eve 0, ann 1 h, gus 1 d, cat 2 d, dan 6 d (from his second page view)
    # step 3: eve 0, ann 23 h, gus 1 d; step 4: eve 22 h, ann 3 d
    assert hours == [None, 24, 23, (22 + 72) / 2]
    dropped = {2: ["u_cat", "u_dan"], 1: ["u_ben"], 3: ["u_gus"], 4: []}
    for step, who in dropped.items():
        assert sorted(funnel.people(step, "dropped")["person"]) == who, step
    assert sorted(funnel.people(3, "converted")["person"]) == ["u_ann", "u_eve"]
    gus = funnel.people(3, "dropped").row(0, named=True)
    assert gus["email"] == "gus@g.example" and gus["last_event"] == "FirstAction"
    assert gus["step_event_id"] == "gus3" and gus["reached"] == 3
    ann = funnel.people(1, "reached").filter(person="u_ann").row(0, named=True)
    assert ann["entered_at"] == T0 + dt.timedelta(hours=10)  # the anonymous page view
    assert set(funnel.step_events().filter(person="u_dan")["event_id"]) == {"dan2", "dan3"}


def test_hand_built_funnels_match_the_brute_force_reference(hand_wh: tw.Warehouse) -> None:
    people = hand_people(hand_wh)
    cases = [
        (FOUR, 14, "strict"),
        (FOUR, 30, "strict"),
        (FOUR, 1, "strict"),
        (["PageView", "PageView", "SignUp"], 14, "strict"),  # an event fills one step
        (["SignUp", "SignUp"], 14, "strict"),
        (FOUR, 14, "any"),
        (["FirstAction", "SignUp", "PageView"], 3, "any"),
        (["SignUp", "Purchase", "PageView"], 14, "any"),  # later steps done first
    ]
    for steps, days, order in cases:
        paths = reference_paths(people, [named(s) for s in steps], days * DAY, order)
        expected = {person: reached for person, (reached, _) in paths.items()}
        got = hand_wh.conversion_funnel(steps, window=days * DAY, order=order)
        assert got.df["people"].to_list() == counts(expected, len(steps)), (steps, days, order)
        assert dict(got.paths.select("person", "reached").iter_rows()) == expected
        entered = {p: (r, at) for p, r, at in got.paths.select("person", "reached", "entered_at")
                   .iter_rows()}  # fmt: skip
        assert entered == paths, (steps, days, order)
    repeated = hand_wh.conversion_funnel(["PageView", "PageView", "SignUp"], window="14d")
    assert repeated.df["people"].to_list() == [6, 2, 1]  # cat and dan view twice


def test_in_any_order_a_person_enters_at_the_first_step_they_reached(
    hand_wh: tw.Warehouse,
) -> None:
    funnel = hand_wh.conversion_funnel(["SignUp", "Purchase", "PageView"], window="14d",
                                       order="any")  # fmt: skip
    paths = {p: (r, at) for p, r, at in funnel.paths.select("person", "reached", "entered_at")
             .iter_rows()}  # fmt: skip
    # cat viewed pages on days 1-2 and signed up on day 3, but bought on day 21: she
    # reached step 1 only, so she entered at her sign-up, not at a page view (step 3)
    assert paths["u_cat"] == (1, T0 + 2 * DAY + dt.timedelta(hours=10))
    assert paths["u_gus"] == (1, T0 + 3 * DAY + dt.timedelta(hours=10))
    assert paths["u_ann"] == (3, T0 + dt.timedelta(hours=10))  # all three: the page view


# Generated people -------------------------------------------------------------------


@pytest.fixture(scope="module")
def gen_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("generated")
    (root / "empty.toml").write_text("")
    return root


def test_a_generated_four_step_funnel_matches_the_reference_and_the_cli(
    gen_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = gen_db / "four.duckdb"
    with tw.connect(db, config=gen_db / "empty.toml") as wh:
        people = load(wh, generate(30, 300, 16, 30))
        funnel = wh.conversion_funnel(FOUR, window=dt.timedelta(days=14))
        expected = reference(people, [named(s) for s in FOUR], 14 * DAY, "strict")
        assert funnel.df["people"].to_list() == counts(expected, 4)
        assert dict(funnel.paths.select("person", "reached").iter_rows()) == expected
        assert min(counts(expected, 4)) > 5  # every step has people
        steps = [
            "SignUp",
            "Purchase where value > 100",
            "Purchase where value >= 900 and currency is null",
        ]
        filtered = wh.conversion_funnel(steps, window="14d")
        matchers = [named("SignUp"), lambda e: e.name == "Purchase" and e.value > 100,
                    lambda e: e.name == "Purchase" and e.value >= 900]  # fmt: skip
        assert filtered.df["people"].to_list() == counts(
            reference(people, matchers, 14 * DAY, "strict"), 3
        )
    assert main(["--db", str(db), "--config", str(gen_db / "empty.toml"), "report",
                 "conversion", "--steps", ",".join(FOUR), "--window", "14d",
                 "--format", "csv"]) == 0  # fmt: skip
    printed = pl.read_csv(capsys.readouterr().out.encode())
    assert printed["people"].to_list() == funnel.df["people"].to_list()
    assert printed["conversion_from_first"].to_list() == pytest.approx(
        funnel.df["conversion_from_first"].to_list()
    )
    medians = funnel.df["median_time_from_previous"].dt.total_seconds(fractional=True)
    assert printed["median_time_from_previous"].to_list()[1:] == pytest.approx(
        medians.to_list()[1:]
    )


@pytest.fixture(scope="module")
def prop_wh(gen_db: Path) -> Iterator[tw.Warehouse]:
    with tw.connect(gen_db / "props.duckdb", config=gen_db / "empty.toml") as wh:
        yield wh


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(0, 10_000),
    steps=st.lists(st.sampled_from(NAMES), min_size=1, max_size=4),
    days=st.integers(1, 20),
    wider=st.integers(0, 20),
    order=st.sampled_from(["strict", "any"]),
)
def test_funnel_properties(
    prop_wh: tw.Warehouse, seed: int, steps: list[str], days: int, wider: int, order: str
) -> None:
    people = load(prop_wh, generate(seed, 25, 7, 30))
    funnel = prop_wh.conversion_funnel(steps, window=days * DAY, order=order)
    narrow = funnel.df["people"]
    wide = prop_wh.conversion_funnel(steps, window=(days + wider) * DAY, order=order).df["people"]
    assert narrow.to_list() == sorted(narrow.to_list(), reverse=True)  # never increases
    assert all(w >= n for n, w in zip(narrow, wide, strict=True))  # a wider window never lowers
    paths = reference_paths(people, [named(s) for s in steps], days * DAY, order)
    assert narrow.to_list() == counts({p: r for p, (r, _) in paths.items()}, len(steps))
    got = funnel.paths.select("person", "reached", "entered_at").iter_rows()
    assert {p: (r, at) for p, r, at in got} == paths


# Breakdowns, cohorts, filters ----------------------------------------------------------


def test_breakdowns_split_the_same_people(hand_wh: tw.Warehouse) -> None:
    total = hand_wh.conversion_funnel(FOUR, window="14d").df["people"].to_list()
    for by in ("channel", "referrer", "plan", "company", "click_source", "session_id"):
        split = hand_wh.conversion_funnel(FOUR, window="14d", by=by).df
        assert by in split.columns
        sums = split.group_by("step_order").agg(pl.col("people").sum()).sort("step_order")
        assert sums["people"].to_list() == total, by
        assert (split["conversion_from_first"].drop_nulls() <= 1).all()
        dropped = hand_wh.conversion_funnel(FOUR, window="14d", by=by).people(2, "dropped")
        assert sorted(dropped["person"]) == ["u_cat", "u_dan"] and by in dropped.columns
        assert not {"segment", f"by_{by}"} & set(dropped.columns)
    by_url = hand_wh.conversion_funnel(["SignUp", "FirstAction"], window="14d", by="event_id").df
    entered = dict(by_url.filter(step_order=1).select("event_id", "people").iter_rows())
    assert entered == {"ann2": 1, "ben1": 1, "cat3": 1, "dan3": 1, "eve1": 1, "gus2": 1}
    with pytest.raises(UsageError, match="by='nope'"):
        hand_wh.conversion_funnel(by="nope")


def test_personal_data_is_never_a_breakdown(hand_wh: tw.Warehouse) -> None:
    columns = set(hand_wh.sql("select column_name from information_schema.columns "
                              "where table_name = 'events'")["column_name"])  # fmt: skip
    assert columns >= PERSONAL_COLUMNS
    assert {"email", "phone", "first_name", "last_name", "zip", "client_ip",
            "user_agent"} <= PERSONAL_COLUMNS  # fmt: skip
    for column in sorted(PERSONAL_COLUMNS):
        with pytest.raises(UsageError, match=f"by='{column}' holds personal data") as info:
            hand_wh.conversion_funnel(FOUR, by=column)
        allowed = str(info.value).split("; choose from ")[1]
        assert allowed.startswith("channel, referrer, plan, company, click_source")
        assert "session_id" in allowed and "value" in allowed
        assert not {c for c in PERSONAL_COLUMNS if f" {c}," in allowed or f"({c}," in allowed}


def test_repeated_steps_keep_their_own_bars(hand_wh: tw.Warehouse) -> None:
    funnel = hand_wh.conversion_funnel(["PageView", "PageView", "SignUp"], window="14d")
    labels = ["1. PageView", "2. PageView", "3. SignUp"]
    bars, text = funnel.chart().to_dict()["layer"]
    assert bars["encoding"]["x"] == {"field": "step", "sort": labels, "title": None,
                                     "type": "nominal"}  # fmt: skip
    stacked: dict[tuple[str, str], int] = {}
    for row in bars["data"]["values"]:
        key = (row["step"], row["part"])
        stacked[key] = stacked.get(key, 0) + row["people"]
    assert stacked == {
        ("1. PageView", "reached"): 6, ("2. PageView", "reached"): 2, ("3. SignUp", "reached"): 1,
        ("1. PageView", "dropped"): 0, ("2. PageView", "dropped"): 4, ("3. SignUp", "dropped"): 1,
    }  # fmt: skip
    assert [r["step"] for r in text["data"]["values"]] == labels
    times = funnel.chart("time_to_convert").to_dict()
    assert times["encoding"]["color"]["sort"] == labels[1:]
    assert {r["step"] for r in times["data"]["values"]} == set(labels[1:])
    split = hand_wh.conversion_funnel(["PageView", "PageView", "SignUp"], window="14d",
                                      by="channel").chart().to_dict()  # fmt: skip
    assert split["encoding"]["x"]["sort"] == labels
    assert {r["step"] for r in split["data"]["values"]} == set(labels)
    assert funnel.headline()["people"] == dict(zip(labels, [6, 2, 1], strict=True))
    assert hand_wh.conversion_funnel(FOUR, window="14d").headline()["people"] == dict(
        zip(FOUR, [6, 5, 3, 2], strict=True)
    )


def test_drop_off_emails_follow_consent_and_the_privacy_default(tmp_path: Path) -> None:
    """ann granted on day 1 and refused on day 40; cat granted; ben refused; dan, eve and
    gus never answered."""
    answers = {"ann2": "granted", "cat3": "granted", "ben1": "denied"}
    events = [dict(e, consent={"ad_user_data": answers[str(e["eventId"])]})
              if e["eventId"] in answers else e for e in HAND_MADE]  # fmt: skip
    events.append(hand_event("ann5", "PageView", 40, externalId="u_ann",
                             consent={"marketing": "no"}))  # fmt: skip
    src = tmp_path / "consent.ndjson"
    src.write_bytes(b"\n".join(orjson.dumps(e) for e in events) + b"\n")
    (tmp_path / "denied.toml").write_text('[privacy]\ndefault_ad_user_data = "denied"\n')
    with tw.connect(tmp_path / "wh.duckdb", config=tmp_path / "denied.toml") as wh:
        wh.ingest(src)
        until = T0 + 30 * DAY

        def emails(funnel: ConversionFunnel) -> dict[str, str | None]:
            return dict(funnel.people(1, "reached").select("person", "email").iter_rows())

        denied = emails(wh.conversion_funnel(FOUR, window="14d", until=until))
        assert denied == {"u_ann": None, "u_ben": None, "u_cat": "cat@c.example",
                          "u_dan": None, "u_eve": None, "u_gus": None}  # fmt: skip
        for default, shown in ((None, True), ("granted", True), ("denied", False)):
            funnel = conversion_funnel(wh.conn, FOUR, window="14d", until=until,
                                       privacy=PrivacySettings(default))  # fmt: skip
            got = emails(funnel)
            assert got["u_gus"] == ("gus@g.example" if shown else None), default
            # refusals win, ann's too: it came after `until`, but it is her latest answer
            assert got["u_ben"] is None and got["u_ann"] is None
            assert got["u_cat"] == "cat@c.example"


def test_trends_put_each_person_in_the_week_they_entered(hand_wh: tw.Warehouse) -> None:
    funnel = hand_wh.conversion_funnel(FOUR, window="14d")
    trends = funnel.trends("week")
    entered = trends.filter(step_order=1)
    assert entered["people"].sum() == funnel.df["people"][0]
    assert dict(entered.select("cohort", "people").iter_rows()) == {
        dt.date(2026, 2, 23): 3,  # day 1 is a Sunday: ann, ben, cat
        dt.date(2026, 3, 2): 2,  # eve (day 2), gus (day 3)
        dt.date(2026, 3, 9): 1,  # dan: his best entry is his second page view (day 10)
    }
    assert (trends["conversion_from_previous"].drop_nulls() <= 1).all()
    assert (trends["conversion_from_first"].drop_nulls() <= 1).all()
    with pytest.raises(UsageError, match="period"):
        funnel.trends("fortnight")


def test_filters_bind_values_and_refuse_anything_else(hand_wh: tw.Warehouse) -> None:
    sneaky = hand_wh.conversion_funnel(["SignUp where external_id = 'x'' or 1=1 --'"]).df
    assert sneaky["people"].to_list() == [0]  # a value, never SQL
    inside = hand_wh.conversion_funnel(["SignUp where external_id in ('u_ann', 'u_gus')"]).df
    assert inside["people"].to_list() == [2]
    bad = [
        "SignUp where value > 1; drop table events",
        "SignUp where nope = 1",
        "SignUp where properties = 1",  # JSON: not comparable
        "SignUp where value ~ 1",
        "SignUp value > 1",
        "NoSuchEvent",
        "SignUp where email = unquoted",
        "SignUp where external_id in ('u_ann',)",
        "SignUp where external_id in ()",
        "SignUp where external_id in ('u_ann'",
        "SignUp where external_id in ('u_ann', )",
    ]
    for step in bad:
        with pytest.raises(UsageError):
            hand_wh.conversion_funnel([step])
    with pytest.raises(UsageError, match="separate the values of 'in \\(...\\)' with commas"):
        hand_wh.conversion_funnel(["SignUp where external_id in ('u_ann' 'u_gus')"])
    assert hand_wh.sql("select count(*) from events").item() == len(HAND_MADE)
    with pytest.raises(UsageError, match="order"):
        hand_wh.conversion_funnel(order="sideways")
    with pytest.raises(UsageError, match="window"):
        hand_wh.conversion_funnel(window="fortnight")


def test_filter_values_must_fit_the_column_type(hand_wh: tw.Warehouse) -> None:
    later = hand_wh.conversion_funnel(["SignUp where ts >= '2026-03-04'"]).df
    assert later["people"].to_list() == [3]  # cat (day 4), gus (day 4), dan (day 16)
    wrong = [
        ("Purchase where value > 'abc'", "value", "DOUBLE", "'abc'"),
        ("SignUp where ts > 'soon'", "ts", "TIMESTAMP WITH TIME ZONE", "'soon'"),
        ("Purchase where num_items in (1, 'two')", "num_items", "BIGINT", "'two'"),
        ("Purchase where num_items = 99999999999999999999999", "num_items", "BIGINT",
         "99999999999999999999999"),
    ]  # fmt: skip
    for step, column, kind, value in wrong:
        with pytest.raises(UsageError) as info:
            hand_wh.conversion_funnel(["SignUp", step])
        message = str(info.value)
        assert step in message and f"column {column!r} is {kind}" in message, message
        assert f"{value} is not a {kind} value" in message, message
    odd = Step("Odd purchase", None, "Purchase", (Condition("value", ">", ("abc",)),))
    with pytest.raises(UsageError, match="'Odd purchase': column 'value' is DOUBLE"):
        hand_wh.conversion_funnel(["SignUp", odd])
    for cond in (Condition("nope", "=", (1,)), Condition("value", "> 0 or", (1,)),
                 Condition("value", "=", (1, 2)), Condition("value", "is null", (1,))):  # fmt: skip
        with pytest.raises(UsageError, match="'Odd purchase'"):
            hand_wh.conversion_funnel([Step("Odd purchase", None, "Purchase", (cond,))])


def test_only_steps_naming_an_event_look_event_names_up(
    hand_wh: tw.Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked_up: list[list[str]] = []
    real = steps_module.known_events

    def spy(conn: object, names: list[str]) -> set[str]:
        looked_up.append(list(names))
        return real(conn, names)  # type: ignore[arg-type]

    monkeypatch.setattr(steps_module, "known_events", spy)
    hand_wh.conversion_funnel(window="30d")
    hand_wh.conversion_funnel(["awareness", "Acquisition where value is null"])
    assert looked_up == []
    hand_wh.conversion_funnel(["Awareness", "SignUp where plan is null", "FirstAction"])
    assert looked_up == [["FirstAction", "SignUp"]]


def test_a_funnel_resolves_its_people_once(
    hand_wh: tw.Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = compute_module.person_source

    def counting(conn: duckdb.DuckDBPyConnection) -> str:
        calls.append(1)
        return real(conn)

    monkeypatch.setattr(report_module, "person_source", counting)
    funnel = hand_wh.conversion_funnel(FOUR, window="14d", by="channel")
    assert sorted(funnel.people(2)["person"]) == ["u_cat", "u_dan"]
    funnel.people(1, "reached")
    assert len(calls) == 1


def test_default_steps_are_the_stages_and_no_conversion_exceeds_one(
    hand_wh: tw.Warehouse,
) -> None:
    stages = hand_wh.conversion_funnel(window="30d")
    assert stages.df["step"].to_list() == [
        "Awareness", "Interest", "Acquisition", "Activation", "Revenue"
    ]  # fmt: skip
    assert stages.chart_names() == ["funnel", "time_to_convert"]
    for report in (stages, hand_wh.funnel("week"), hand_wh.funnel("week", by="channel")):
        for name, table in report.tables.items():
            for column in table.columns:
                if "conversion" in column:
                    assert (table[column].drop_nulls() <= 1).all(), (name, column)
    assert not [c for c in hand_wh.funnel().df.columns if "conversion" in c]


# The funnel beside delivery ------------------------------------------------------------


def _bucket_counts(rows: pl.DataFrame) -> dict[str, int]:
    return dict(rows.group_by("bucket").len().iter_rows())


def _assert_agrees(funnel: ConversionFunnel, rec: Reconciliation, delivery: pl.DataFrame) -> None:
    events = funnel.step_events()
    assert delivery.height
    for row in delivery.iter_rows(named=True):
        ids = events.filter(step_order=row["step_order"])["event_id"].implode()
        rows = rec.rows(row["destination"]).filter(pl.col("event_id").is_in(ids))
        mine = {b: row[b] for b in BUCKETS if row[b]}
        assert mine == _bucket_counts(rows), row
        assert row["rows"] == rows.height
        assert row["sent"] <= row["rows"] and row["sent_with_keys"] <= row["sent"]
        assert row["people"] == funnel.df["people"][row["step_order"] - 1]


def test_delivery_per_step_agrees_with_reconciliation(tmp_path: Path) -> None:
    src = tmp_path / "hand_made.ndjson"
    src.write_bytes(b"\n".join(orjson.dumps(e) for e in HAND_MADE) + b"\n")
    with tw.connect(tmp_path / "wh.duckdb", config=ROOT / "trackstack.toml") as wh:
        wh.ingest(src)
        wh.build_payloads(as_of=wh.replay_clock())
        wh.conn.execute(
            "insert into delivery_log by name select 'a-' || event_id as attempt_id, "
            "'run' as run_id, destination, request_kind, event_id, 'live' as mode, "
            "'live' as target, 1 as attempt, now() as sent_at, 200 as http_status, "
            "case when event_id like 'eve%' then 'rejected' else 'delivered' end as outcome, "
            "case when event_id like 'eve%' then 'permanent' end as error_class "
            "from capi_tiktok where status = 'ready'"
        )
        funnel = wh.conversion_funnel(FOUR, window="14d")
        delivery = funnel.delivery()
        rec = wh.reconcile()
        _assert_agrees(funnel, rec, delivery)
        tiktok = delivery.filter(destination="tiktok")
        assert tiktok["delivered"].sum() > 0 and tiktok["rejected"].sum() > 0
        assert (tiktok["sent"] == tiktok["delivered"] + tiktok["rejected"]).all()
        assert tiktok["sent_with_keys"].sum() > 0  # user IDs and emails
        rejected = tiktok.filter(pl.col("rejected") > 0)["top_reasons"]
        assert rejected.str.contains("rejected: permanent").all()
        # A one-step funnel over an event each person does once: the totals are
        # reconciliation's totals for that event.
        once = wh.conversion_funnel(["FirstAction"]).delivery()
        ads = once["destination"].implode()
        summary = (
            rec.summary.filter(pl.col("destination").is_in(ads), event_name="FirstAction")
            .group_by("destination")
            .agg(pl.col("rows", *BUCKETS).sum())
            .sort("destination")
        )
        mine = once.select("destination", "rows", *BUCKETS).sort("destination")
        assert mine.equals(summary.select(mine.columns).cast(mine.schema))  # type: ignore[arg-type]
        assert (once["routed"] == once["rows"]).all()
        assert wh.conversion_funnel(FOUR).with_delivery().chart_names() == [
            "funnel", "time_to_convert", "delivery"
        ]  # fmt: skip


@pytest.fixture
def demo_db(demo_run: tuple[Path, str, float]) -> Path:
    """The demo's warehouse (an integration fixture: the demo runs once per session)."""
    return demo_run[0]


def test_demo_funnel_delivery_agrees_with_reconciliation(demo_db: Path) -> None:
    with tw.connect(demo_db, read_only=True) as wh:
        funnel = wh.conversion_funnel()
        delivery = funnel.delivery(target="emulator")  # the demo pushes to the emulator
        _assert_agrees(funnel, wh.reconcile(target="emulator"), delivery)
        assert delivery["delivered"].sum() > 0 and delivery["sent_with_keys"].sum() > 0
        for report in (funnel, wh.funnel("week")):
            for table in report.tables.values():
                for column in table.columns:
                    if "conversion" in column:
                        assert (table[column].drop_nulls() <= 1).all(), column
