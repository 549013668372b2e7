"""The quarantine as a workbench: listing records with their fix, counting them, and
replaying them after a config change or with a fix, the accounting exact throughout."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines
from trackstack_wh.cli import main
from trackstack_wh.config import WorkspaceConfig, load_config, parse_config
from trackstack_wh.errors import UsageError
from trackstack_wh.health import accounting_breaks
from trackstack_wh.ingest import replay

RECEIVED = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
T = RECEIVED - dt.timedelta(days=1)
BUYER = {"email": "buyer@acme.example", **WEB}
NO_CURRENCY = [
    event_line("Purchase", "p1", T, value=990, transactionId="t1", **BUYER),
    event_line("SignUp", "s1", T, email="ann@acme.example"),
    event_line("Purchase", "p2", T, value=4200, transactionId="t2", **BUYER),
    '{"event":"PageView","eventId":"bad",}',
    event_line("Refund", "r1", T, value=990, transactionId="t1", **BUYER),
    event_line("Purchase", "neg", T, value=-5, transactionId="t3", **BUYER),
]
"""Three revenue events without a currency, one also with a negative value, and one
line that is not JSON."""


def batch_counts(wh: tw.Warehouse) -> tuple[int, int, int, int]:
    row = wh.batches().row(0, named=True)
    return row["rows_in"], row["rows_valid"], row["rows_quarantined"], row["rows_duplicate"]


def reasons(wh: tw.Warehouse) -> dict[int, list[str]]:
    rows = wh.sql("select line_no, reasons from quarantine order by line_no").iter_rows()
    return dict(rows)


def ingest(wh: tw.Warehouse, path: Path, lines: list[str]) -> tw.FileReport:
    [report] = wh.ingest(write_lines(path, lines), received_at=RECEIVED).files
    assert report.balanced
    return report


def with_currency(config: WorkspaceConfig, code: str = "EUR") -> WorkspaceConfig:
    return dataclasses.replace(config, default_currency=code)


def test_setting_default_currency_and_replaying_moves_the_records_into_events(
    tmp_path: Path,
) -> None:
    db, config = tmp_path / "wh.duckdb", load_config(None)
    with tw.connect(db, config=config) as wh:
        ingest(wh, tmp_path / "shop.ndjson", NO_CURRENCY)
        missing = wh.quarantine(reason="missing_required:currency")
        assert missing["line_no"].to_list() == [1, 3, 5, 6]
        assert batch_counts(wh) == (6, 1, 5, 0)
        top_seq = wh.sql("select max(event_seq) as s from events")["s"].item()
        quarantined_at = dict(wh.sql("select line_no, quarantined_at from quarantine").rows())
    with tw.connect(db, config=with_currency(config)) as wh:
        result = wh.replay_quarantine()
        assert (result.rows_examined, result.rows_moved, result.rows_duplicate) == (5, 3, 0)
        assert result.rows_still_quarantined == 2
        assert result.reasons == {"invalid_json": 1, "negative_value": 1}
        moved = wh.sql(
            "select event_id, currency, line_no, batch_id, event_seq from events "
            "where event_id in ('p1', 'p2', 'r1') order by line_no"
        )
        assert moved["line_no"].to_list() == [1, 3, 5]
        assert set(moved["currency"]) == {"EUR"}
        assert set(moved["batch_id"]) == set(wh.batches()["batch_id"])
        assert moved["event_seq"].min() > top_seq
        assert batch_counts(wh) == (6, 4, 2, 0)
        assert accounting_breaks(wh.conn).is_empty()
        assert reasons(wh) == {4: ["invalid_json"], 6: ["negative_value"]}
        kept = wh.sql("select line_no, raw, quarantined_at from quarantine order by line_no")
        assert kept["raw"].to_list() == [NO_CURRENCY[3], NO_CURRENCY[5]]
        assert dict(kept.select("line_no", "quarantined_at").rows()) == {
            n: quarantined_at[n] for n in (4, 6)
        }
        moves = wh.sql("select * from quarantine_moves order by line_no")
        assert moves.select("event_id", "moved_to").rows() == [
            ("p1", "events"), ("p2", "events"), ("r1", "events"),
        ]  # fmt: skip
        assert moves["raw_before"].to_list() == [NO_CURRENCY[0], NO_CURRENCY[2], NO_CURRENCY[4]]
        recorded = wh.sql("select * from quarantine_replays").row(0, named=True)
        assert recorded["rule"] == "revalidate + default_currency=EUR"
        assert recorded["finished_at"] is not None
        assert (recorded["rows_examined"], recorded["rows_moved"]) == (5, 3)
        assert (recorded["rows_duplicate"], recorded["rows_still_quarantined"]) == (0, 2)

        events_before = wh.sql("select * from events order by event_seq")
        again = wh.replay_quarantine()
        assert (again.rows_examined, again.rows_moved, again.rows_duplicate) == (2, 0, 0)
        assert wh.sql("select * from events order by event_seq").equals(events_before)
        assert batch_counts(wh) == (6, 4, 2, 0)
        assert accounting_breaks(wh.conn).is_empty()
        assert wh.sql("select count(*) as n from quarantine_replays")["n"].item() == 2


def test_without_a_default_currency_a_replay_moves_nothing(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    ingest(wh, tmp_path / "shop.ndjson", NO_CURRENCY)
    before = wh.quarantine()
    result = wh.replay_quarantine()
    assert (result.rows_examined, result.rows_moved, result.rows_still_quarantined) == (5, 0, 5)
    after = wh.quarantine()
    assert after.drop("detail").equals(before.drop("detail"))
    assert batch_counts(wh) == (6, 1, 5, 0)


def test_a_fix_callable_repairs_a_misspelled_field_and_an_identify_record(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    lines = [
        event_line("Purchase", "p1", T, value=990, currency="USD", transactionID="t1", **BUYER),
        event_line("Purchase", "p2", T, value=990, currency="USD", transactionId="t2", **BUYER),
        json.dumps({"type": "identify", "traits": {"email": "ann@acme.example"}, "uid": "u-1"}),
        event_line("Purchase", "p3", T, value=-1, currency="USD", transactionID="t3", **BUYER),
    ]
    ingest(wh, tmp_path / "typos.ndjson", lines)
    assert reasons(wh) == {
        1: ["missing_required:transactionId"],
        3: ["identify_without_person"],
        4: ["negative_value", "missing_required:transactionId"],
    }
    seen: list[str] = []

    def rename_keys(record: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(record.get("eventId", "identify"))
        for wrong, right in (("transactionID", "transactionId"), ("uid", "userId")):
            if wrong in record:
                record[right] = record.pop(wrong)
        return record

    result = wh.replay_quarantine(fix=rename_keys)
    assert seen == ["p1", "identify", "p3"]
    assert (result.rows_moved, result.rows_still_quarantined) == (2, 1)
    assert result.rule.endswith("<locals>.rename_keys")
    event = wh.sql("select transaction_id, line_no, properties from events where event_id = 'p1'")
    assert event.row(0) == ("t1", 1, None)
    assert wh.sql("select user_id, line_no from identities")["user_id"].to_list() == ["u-1"]
    moves = wh.sql("select line_no, moved_to, raw_before from quarantine_moves order by 1")
    assert moves.rows() == [(1, "events", lines[0]), (3, "identities", lines[2])]
    assert reasons(wh) == {4: ["negative_value"]}
    assert wh.quarantine()["raw"].to_list() == [lines[3]]
    row = wh.batches().row(0, named=True)
    assert (row["rows_valid"], row["rows_quarantined"], row["rows_identify"]) == (3, 1, 1)
    assert accounting_breaks(wh.conn).is_empty()


def test_records_still_failing_stay_with_their_current_reasons(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    lines = [
        event_line("not a real event", "e1", T),
        event_line("Purchase", "e2", T, value=-3, currency="USD", transactionId="t"),
        "[1, 2]",
    ]
    ingest(wh, tmp_path / "odd.ndjson", lines)
    before = wh.quarantine()

    def rename_event(record: dict[str, Any]) -> dict[str, Any] | None:
        return {**record, "event": "Purchase"} if record["event"] == "not a real event" else None

    result = wh.replay_quarantine(fix=rename_event)
    assert (result.rows_examined, result.rows_moved, result.rows_still_quarantined) == (3, 0, 3)
    assert reasons(wh) == {
        1: ["missing_required:transactionId", "missing_required:value",
            "missing_required:currency"],
        2: ["negative_value"],
        3: ["not_an_object"],
    }  # fmt: skip
    after = wh.quarantine()
    assert after.select("line_no", "raw", "quarantined_at").equals(
        before.select("line_no", "raw", "quarantined_at")
    )
    detail = after.filter(line_no=1)["detail"].item()
    assert detail.startswith(f"{tmp_path / 'odd.ndjson'}:1: missing_required:transactionId")
    assert "fix:" in detail
    assert wh.sql("select count(*) as n from quarantine_moves")["n"].item() == 0
    assert batch_counts(wh) == (3, 0, 3, 0)


def test_a_replayed_record_repeating_a_loaded_event_becomes_a_duplicate(
    tmp_path: Path,
) -> None:
    db, config = tmp_path / "wh.duckdb", load_config(None)
    first = event_line("Purchase", "p1", T, value=990, transactionId="t1", **BUYER)
    resent = event_line("Purchase", "p1", T, value=990, currency="EUR", transactionId="t1")
    with tw.connect(db, config=config) as wh:
        early = ingest(wh, tmp_path / "early.ndjson", [first])
        late = ingest(wh, tmp_path / "late.ndjson", [resent])
    with tw.connect(db, config=with_currency(config)) as wh:
        result = wh.replay_quarantine(file="early.ndjson")
        assert (result.rows_moved, result.rows_duplicate) == (0, 1)
        duplicate = wh.sql("select * from duplicates").row(0, named=True)
        assert (duplicate["batch_id"], duplicate["line_no"]) == (early.batch_id, 1)
        assert (duplicate["first_batch_id"], duplicate["first_line_no"]) == (late.batch_id, 1)
        counts = wh.sql("select batch_id, rows_valid, rows_quarantined, rows_duplicate "
                        "from ingest_batches order by ingested_at").rows()  # fmt: skip
        assert counts == [(early.batch_id, 0, 0, 1), (late.batch_id, 1, 0, 0)]
        assert accounting_breaks(wh.conn).is_empty()
        moved_to = wh.sql("select moved_to from quarantine_moves")["moved_to"].to_list()
        assert moved_to == ["duplicates"]


def test_a_replay_in_pages_filtered_by_reason_moves_exactly_the_selected_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(replay, "PAGE_ROWS", 2)
    db, config = tmp_path / "wh.duckdb", load_config(None)
    lines = [
        event_line("Purchase", f"p{i}", T, value=100 + i, transactionId=f"t{i}", **BUYER)
        for i in range(5)
    ] + [event_line("StartTrial", "trial", T), event_line("Purchase", "neg", T, value=-1)]
    with tw.connect(db, config=config) as wh:
        ingest(wh, tmp_path / "many.ndjson", lines)
    with tw.connect(db, config=with_currency(config, "USD")) as wh:
        result = wh.replay_quarantine(reason="missing_required:currency")
        assert (result.rows_examined, result.rows_moved, result.rows_still_quarantined) == (6, 5, 1)
        assert wh.sql("select count(distinct event_seq) as n from events")["n"].item() == 5
        assert reasons(wh) == {
            6: ["missing_required:plan"],
            7: ["negative_value", "missing_required:transactionId"],
        }
        assert batch_counts(wh) == (7, 5, 2, 0)
        assert accounting_breaks(wh.conn).is_empty()


def test_replayed_events_reach_the_incremental_quality_refresh_and_payloads(
    tmp_path: Path,
) -> None:
    config = parse_config(
        {
            "workspace": {"default_currency": "USD"},
            "destinations": {"meta": {"enabled": True, "pixel_id": "123"}},
        }
    )
    lines = [
        event_line("Purchase", "paid", T, value=990, currency="USD", transactionId="t1", **BUYER),
        event_line("Purchase", "later", T, value=500, transactionId="t2", **BUYER),
    ]
    as_of = T + dt.timedelta(hours=2)
    with tw.connect(tmp_path / "wh.duckdb", config=config) as wh:
        ingest(wh, tmp_path / "shop.ndjson", lines)
        assert wh.refresh_quality().ran
        wh.build_payloads(as_of=as_of)
        assert wh.payloads("meta")["event_id"].to_list() == ["paid"]

        assert wh.replay_quarantine().rows_moved == 1
        run = wh.refresh_quality()
        assert (run.mode, run.scored) == ("incremental", 1)
        assert set(wh.quality()["event_id"]) == {"paid", "later"}
        [meta] = [r for r in wh.build_payloads(as_of=as_of) if r.destination == "meta"]
        assert (meta.inserted, meta.rebuilt) == (1, 0)
        rows = wh.payloads("meta").select("event_id", "status").sort("event_id").rows()
        assert rows == [("later", "ready"), ("paid", "ready")]


def test_cli_lists_quarantined_records_as_table_csv_json_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "wh.duckdb"
    with tw.connect(db) as wh:
        ingest(wh, tmp_path / "shop.ndjson", NO_CURRENCY)
    capsys.readouterr()
    base = ["--db", str(db), "quarantine"]

    assert main(base) == 0
    table = capsys.readouterr().out
    assert table.startswith("quarantined records: 5 of 5:")
    assert "shop.ndjson" in table and "missing_required:currency" in table and "fix:" in table

    assert main([*base, "--format", "csv", "--reason", "missing_required"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["line"] for r in rows] == ["1", "3", "5", "6"]
    assert set(rows[0]) == {"batch_id", "reasons", "raw", "file", "line", "reason", "detail"}
    assert rows[0]["raw"] == NO_CURRENCY[0] and "fix:" in rows[0]["detail"]
    assert rows[3]["reasons"] == "negative_value; missing_required:currency"

    assert main([*base, "--format", "json", "--file", "shop.ndjson", "--limit", "2"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [(r["line"], r["reason"]) for r in records] == [
        (1, "missing_required:currency"),
        (3, "missing_required:currency"),
    ]
    assert records[0]["reasons"] == ["missing_required:currency"]

    assert main([*base, "--limit", "1"]) == 0
    shown = capsys.readouterr()
    assert shown.out.startswith("quarantined records: 1 of 5:")
    assert "--limit 5" in shown.err

    assert main([*base, "--summary", "--format", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {(s["reason"], s["records"]) for s in summary} == {
        ("missing_required:currency", 3),
        ("invalid_json", 1),
        ("negative_value", 1),
    }
    assert all(s["file"] == str(tmp_path / "shop.ndjson") and s["fix"] for s in summary)

    assert main([*base, "--summary"]) == 0
    assert "quarantined records by reason and file" in capsys.readouterr().out

    assert main([*base, "--file", "other.ndjson", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_cli_replay_applies_the_configured_default_currency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "wh.duckdb"
    with tw.connect(db) as wh:
        ingest(wh, tmp_path / "shop.ndjson", NO_CURRENCY)
    config = tmp_path / "trackstack.toml"
    config.write_text('[workspace]\ndefault_currency = "GBP"\n')
    capsys.readouterr()
    argv = ["--db", str(db), "--config", str(config), "quarantine", "--replay"]

    assert main([*argv, "--reason", "missing_required:currency", "--format", "json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["rows_examined"], done["rows_moved"], done["rows_still_quarantined"]) == (4, 3, 1)
    assert done["rule"] == "revalidate + default_currency=GBP"

    assert main(argv) == 0
    line = capsys.readouterr().out
    assert "2 examined = 0 moved + 0 duplicate + 2 still quarantined" in line
    assert main([*argv, "--limit", "3"]) == 2
    assert "--replay takes every selected record" in capsys.readouterr().err
    with tw.connect(db, read_only=True) as wh:
        assert batch_counts(wh) == (6, 4, 2, 0)
        assert wh.sql("select count(*) as n from quarantine_replays")["n"].item() == 2


class Fixer:
    """A fix holding a secret it must not leak into the replay's record."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, record: dict[str, Any]) -> dict[str, Any] | None:
        return None


def test_filters_are_bound_parameters_and_a_fix_is_recorded_by_name_only(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    quoted = tmp_path / "it's; drop table events; --.ndjson"
    ingest(wh, quoted, NO_CURRENCY)
    injections = ["x' or '1'='1", "') or true --", "%", "*"]
    for text in injections:
        assert wh.quarantine(reason=text).is_empty()
        assert wh.quarantine(file=text).is_empty()
        assert wh.quarantine_summary(file=text).is_empty()
        assert wh.replay_quarantine(reason=text, file=text).rows_examined == 0
    assert wh.quarantine(file=quoted.name).height == 5
    assert wh.quarantine(file=str(quoted), reason="invalid_json")["line_no"].to_list() == [4]

    result = wh.replay_quarantine(file=quoted.name, fix=Fixer("s3cret-token"))
    assert result.rows_examined == 5
    recorded = wh.sql("select * from quarantine_replays order by replay_id desc").row(0, named=True)
    assert recorded["file_filter"] == quoted.name
    assert recorded["rule"] == "revalidate + fix=tests.test_quarantine_replay.Fixer"
    assert "s3cret" not in json.dumps(
        wh.sql("select * from quarantine_replays").rows(), default=str
    )
    assert wh.sql("select count(*) as n from events")["n"].item() == 1


def test_a_fix_that_fails_names_the_record_and_moves_nothing(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    ingest(wh, tmp_path / "shop.ndjson", NO_CURRENCY)
    before = wh.quarantine()

    def broken(record: dict[str, Any]) -> dict[str, Any] | None:
        return record["no such key"]  # type: ignore[no-any-return]

    with pytest.raises(KeyError) as failure:
        wh.replay_quarantine(fix=broken)
    assert f"{tmp_path / 'shop.ndjson'}:1" in "".join(failure.value.__notes__)
    assert wh.quarantine().equals(before)
    recorded = wh.sql("select finished_at, rows_examined from quarantine_replays").row(0)
    assert recorded == (None, 0)
    with pytest.raises(TypeError, match="not a dict"):
        wh.replay_quarantine(fix=lambda record: [record])  # type: ignore[arg-type, return-value]


def test_a_read_only_warehouse_refuses_to_replay(tmp_path: Path) -> None:
    db = tmp_path / "wh.duckdb"
    tw.connect(db).close()
    with tw.connect(db, read_only=True) as wh, pytest.raises(UsageError, match="writable"):
        wh.replay_quarantine()
