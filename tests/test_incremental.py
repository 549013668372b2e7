"""Incremental refreshes and builds give the rows a full rebuild gives.

Random batches arrive one after another, each followed by a quality refresh and a payload
build (as the intraday chain runs them): new events, eventId duplicates of events loaded
days before, and copies of old transactions that arrive late, some carrying an earlier
time than the first copy (which makes that old copy the duplicate). The warehouse is then
compared, table by table, with a twin that loaded the same files and rebuilt everything.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

import trackstack_wh as tw
from tests.helpers import WEB, event_line, write_lines
from tests.test_payloads import CONFIG
from trackstack_wh.config import parse_config
from trackstack_wh.payloads import PAYLOAD_TABLES

AS_OF = dt.datetime(2026, 10, 28, 12, 0, tzinfo=dt.UTC)
START = AS_OF - dt.timedelta(days=6)
NAMES = ["PageView", "SignUp", "LeadCaptured", "StartTrial", "Purchase", "Purchase", "Refund"]


def _batches(seed: int, count: int) -> list[list[str]]:
    """``count`` batches of NDJSON lines with late duplicates and late transaction copies."""
    rng = random.Random(seed)
    sent: list[str] = []
    purchases: list[tuple[str, dt.datetime, int]] = []
    batches = []
    for b in range(count):
        lines = []
        for i in range(rng.randint(3, 12)):
            name = rng.choice(NAMES)
            at = START + dt.timedelta(hours=rng.uniform(0, 6 * 24))
            person = rng.randint(0, 6)
            fields: dict[str, object] = {"email": f"p{person}@acme.example", **WEB}
            if rng.random() < 0.3:
                fields["phone"] = f"+1 415 555 01{person:02d}"
            if name in ("Purchase", "Refund"):
                if purchases and rng.random() < 0.4:  # a copy of an earlier transaction
                    tx, first_at, value = rng.choice(purchases)
                    at = first_at + dt.timedelta(hours=rng.uniform(-30, 60))
                else:
                    tx, value = f"T{b}-{i}", rng.randint(100, 9000)
                    purchases.append((tx, at, value))
                fields |= {"transactionId": tx, "value": value, "currency": "USD"}
            line = event_line(name, f"e{b}-{i}", at, **fields)
            lines.append(line)
            sent.append(line)
        if sent and rng.random() < 0.5:  # an eventId loaded before, sent again
            lines.append(rng.choice(sent))
        batches.append(lines)
    return batches


DERIVED = {
    "event_identity": "event_id",
    "destination_dedup": "event_id, destination",
    "event_quality": "event_id",
    "match_key_patterns": "key_pattern",
    "person_rows": "row_kind, row_id",
    "people_email_uids": "email, uid",
    "people_device_persons": "device, person",
    "event_stitch": "event_id",
    "identify_identity": "event_id",
    **{table: "event_id, request_kind" for table in PAYLOAD_TABLES.values()},
}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_incremental_runs_equal_a_full_rebuild(tmp_path: Path, seed: int) -> None:
    config = parse_config(CONFIG)
    files = [
        write_lines(tmp_path / f"batch{n:02d}.ndjson", lines)
        for n, lines in enumerate(_batches(seed, 8))
    ]
    with (
        tw.connect(tmp_path / "inc.duckdb", config=config) as inc,
        tw.connect(tmp_path / "full.duckdb", config=config) as full,
    ):
        for path in files:
            inc.ingest(path)
            inc.refresh_quality()
            inc.build_payloads(as_of=AS_OF)
            full.ingest(path)
        assert full.refresh_quality(force=True).mode == "full"
        full.build_payloads(as_of=AS_OF, rebuild=True)
        modes = inc.sql("select mode, count(*) as n from quality_runs group by mode")
        assert dict(modes.iter_rows()) == {"full": 1, "incremental": len(files) - 1}
        for table, key in DERIVED.items():
            written_order = "exclude (built_seq)" if table in PAYLOAD_TABLES.values() else ""
            query = f"select * {written_order} from {table} order by {key}"
            assert inc.sql(query).equals(full.sql(query)), table
        assert inc.sql("select count(*) from duplicates").item() > 0


def test_a_late_copy_with_an_earlier_time_turns_the_sent_row_into_the_duplicate(
    tmp_path: Path,
) -> None:
    first = AS_OF - dt.timedelta(hours=10)
    purchase = {"transactionId": "T1", "value": 5000, "currency": "USD", "email": "a@b.example"}
    with tw.connect(tmp_path / "w.duckdb", config=parse_config(CONFIG)) as wh:
        wh.ingest(write_lines(tmp_path / "a.ndjson", [event_line("Purchase", "web", first,
                                                                 **purchase, **WEB)]))  # fmt: skip
        wh.build_payloads(as_of=AS_OF)
        assert wh.payloads("meta")["status"].to_list() == ["ready"]
        earlier = first - dt.timedelta(hours=1)
        wh.ingest(write_lines(tmp_path / "b.ndjson", [event_line("Purchase", "srv", earlier,
                                                                 **purchase)]))  # fmt: skip
        run = wh.refresh_quality()
        assert (run.mode, run.scored) == ("incremental", 2)  # the new event and the old copy
        results = {r.destination: r for r in wh.build_payloads(as_of=AS_OF)}
        assert results["meta"].rebuilt == 1
        rows = wh.payloads("meta").select("event_id", "status", "duplicate_of").rows()
        assert sorted(rows) == [("srv", "ready", None), ("web", "duplicate", "srv")]
        assert wh.sql("select count(*) from quality_changes").item() == 0, "pruned once built"
