"""The push cursor: a push reads the rows written since the last full run and the rows it
left open, and still sends exactly what a push over every row would send."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx

import trackstack_wh as tw
from tests import test_delivery_engine as engine
from tests.helpers import WEB, event_line, write_lines
from tests.test_delivery_engine import AS_OF, EVENT_IDS, FAST, Platform, T, accepted, meta_error

source, wh = engine.source, engine.wh
"""The engine tests' warehouse: seven ready Meta rows (fixtures)."""


def cursor(wh: tw.Warehouse) -> tuple[int, list[str]]:
    through = wh.sql("select built_through from delivery_cursors where destination = 'meta'")
    backlog = wh.sql("select event_id from delivery_backlog where destination = 'meta'")
    return through.item(), sorted(backlog["event_id"])


def test_a_push_reads_only_new_rows_and_the_open_ones_it_left(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    failing = {EVENT_IDS[0]}

    def answer(request: httpx.Request, rows: list[str]) -> httpx.Response:
        if failing & set(rows):
            return meta_error(503, 2, "Service temporarily unavailable")
        return accepted(request, rows)

    platform = Platform(answer)
    first = wh.push(as_of=AS_OF, delivery={**FAST, "batch_size": 1}, transport=platform.transport)
    assert first["meta"].delivered == len(EVENT_IDS) - 1 and first["meta"].failed == 1
    top = wh.sql("select max(built_seq) from capi_meta").item()
    assert cursor(wh) == (top, [EVENT_IDS[0]])  # the failed row stays in the backlog

    new = [event_line("Purchase", "evt_new", T, email="n@acme.example", value=5,
                      currency="USD", transactionId="txn_new", **WEB)]  # fmt: skip
    wh.ingest(write_lines(tmp_path / "new.ndjson", new))
    wh.build_payloads(as_of=AS_OF)
    platform.requests.clear()
    failing.clear()
    again = wh.push(as_of=AS_OF, delivery={**FAST, "batch_size": 1}, transport=platform.transport,
                    retry_failed=True)  # fmt: skip
    assert sorted(e for rows in platform.requests for e in rows) == [EVENT_IDS[0], "evt_new"]
    assert again["meta"].delivered == 2
    assert cursor(wh) == (wh.sql("select max(built_seq) from capi_meta").item(), [])

    platform.requests.clear()
    assert wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport).ok
    assert platform.requests == []


def test_rebuilt_rows_of_delivered_events_are_not_sent_again(wh: tw.Warehouse) -> None:
    platform = Platform(accepted)
    assert wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport).ok
    wh.build_payloads(as_of=AS_OF, rebuild=True)  # new built_seq for every row
    platform.requests.clear()
    report = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport)
    assert report.ok and platform.requests == [] and report["meta"].pending == 0


def test_a_windowed_push_leaves_the_cursor_where_it_was(wh: tw.Warehouse) -> None:
    platform = Platform(accepted)
    since = T - dt.timedelta(minutes=2)
    report = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport, since=since)
    assert report["meta"].delivered == 3  # evt_00..evt_02 are within two minutes of T
    assert wh.sql("select count(*) from delivery_cursors").item() == 0
    platform.requests.clear()
    rest = wh.push(as_of=AS_OF, delivery=FAST, transport=platform.transport)
    assert sorted(e for rows in platform.requests for e in rows) == EVENT_IDS[3:]
    assert rest["meta"].delivered == len(EVENT_IDS) - 3
