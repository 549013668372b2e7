"""File ingest: accounting, quarantine reasons, shapes, timestamps, formats, idempotency."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import trackstack_wh as tw
from tests.helpers import write_lines
from trackstack_lab.synthetic import SyntheticSpec, write_ndjson
from trackstack_wh.cli import main
from trackstack_wh.ingest import ahead, pipeline, readers, row_groups

RECEIVED = dt.datetime(2026, 10, 1, 12, 0, tzinfo=dt.UTC)
TABLES = ("events", "quarantine", "duplicates", "ingest_batches")


def table_fingerprint(wh: tw.Warehouse) -> dict[str, tuple[int, str]]:
    """Row count and a content hash per table, to show a table did not change."""
    out = {}
    for t in TABLES:
        row = wh.sql(f"select count(*)::bigint n, coalesce(sum(hash(t)), 0)::varchar h from {t} t")
        out[t] = (row["n"][0], row["h"][0])
    return out


def quarantined(wh: tw.Warehouse) -> dict[int, str]:
    return dict(wh.sql("select line_no, reason from quarantine").iter_rows())


def test_10k_mixed_shapes_with_malformed_lines_account_exactly(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "mixed.ndjson"
    lines_written = write_ndjson(path, SyntheticSpec(n=10_000, seed=5, malformed_rate=0.01))
    report = wh.ingest(path)
    [f] = report.files
    assert f.status == "loaded" and f.rows_in == lines_written
    assert f.balanced
    assert f.quarantine_reasons["invalid_json"] == 100
    assert f.rows_duplicate == 200
    batch = wh.batches().row(0, named=True)
    assert (
        batch["rows_in"]
        == batch["rows_valid"] + batch["rows_quarantined"] + batch["rows_duplicate"]
    )
    counts = {t: wh.sql(f"select count(*)::bigint n from {t}")["n"][0] for t in TABLES[:3]}
    assert counts == {
        "events": f.rows_valid,
        "quarantine": f.rows_quarantined,
        "duplicates": f.rows_duplicate,
    }
    assert wh.sql("select count(distinct event_id)::bigint n from events")["n"][0] == f.rows_valid
    assert set(wh.sql("select distinct input_shape from events")["input_shape"]) == {
        "flat",
        "nested",
        "seed002",
    }

    before = table_fingerprint(wh)
    again = wh.ingest(path)
    assert again.files[0].status == "already_ingested"
    assert table_fingerprint(wh) == before


def test_each_bad_record_gets_its_machine_readable_reason(wh: tw.Warehouse, tmp_path: Path) -> None:
    lines = [
        '{"event":"SignUp","eventId":"ok1","ts":1790000000,"email":"a@b.co"}',
        '{"event":"SignUp","eventId":"e2","ts":1790000000}',
        '{"event":"Purchase","eventId":"e3","ts":1790000000,"value":"abc","currency":"USD","transactionId":"t"}',
        '{"event":"not a real event","eventId":"e4","ts":1790000000}',
        '{"event":"Purchase","eventId":"e5","ts":1790000000,"value":10,"currency":"DOLLARS","transactionId":"t"}',
        '{"event":"Purchase","eventId":"e6","ts":1790000000,"value":-5,"currency":"USD","transactionId":"t"}',
        '{"event":"PageView","eventId":"e7","ts":"1999-01-01T00:00:00Z"}',
        '{"event":"PageView","eventId":"e8",}',
        "[1, 2]",
        '{"event":"StartTrial","eventId":"e10","ts":1790000000}',
        '{"event":"Refund","eventId":"e11","ts":1790000000,"value":5,"currency":"USD"}',
        '{"event":"SignUp","eventId":"e12","ts":1790000000,"email":"nobody"}',
        '{"eventId":"e13","ts":1790000000}',
        '{"event":"ContentView","eventId":"e14","ts":1790000000,"contentIds":{"a":1},"contentType":"x"}',
        '{"event":"PageView","eventId":"e15","ts":1790000000,"userData":"me@x.com"}',
        '{"event":"PageView","eventId":"e16","ts":"yesterday"}',
    ]
    report = wh.ingest(write_lines(tmp_path / "bad.ndjson", lines), received_at=RECEIVED)
    assert report.files[0].balanced and report.files[0].rows_valid == 1
    assert quarantined(wh) == {
        2: "missing_required:email",
        3: "invalid_type:value",
        4: "unknown_event",
        5: "invalid_currency",
        6: "negative_value",
        7: "ts_out_of_range",
        8: "invalid_json",
        9: "not_an_object",
        10: "missing_required:plan",
        11: "missing_required:refundId_or_transactionId",
        12: "invalid_email",
        13: "missing_required:event",
        14: "invalid_type:contentIds",
        15: "invalid_type:userData",
        16: "invalid_type:ts",
    }
    detail = wh.sql("select detail, raw from quarantine where line_no = 2").row(0, named=True)
    assert detail["detail"].startswith(f"{tmp_path / 'bad.ndjson'}:2: missing_required:email")
    assert "field 'email'" in detail["detail"] and "fix:" in detail["detail"]
    assert detail["raw"] == lines[1]


def test_json_only_a_lenient_parser_accepts_is_invalid_and_look_alikes_in_strings_load(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    lenient = [
        '{"event":"PageView","eventId":"c1",}',
        '{"event":"PageView","eventId":"c2","contentIds":["a" , ]}',
        '{"event":"PageView","eventId":"n1","extra":NaN}',
        '{"event":"PageView","eventId":"n2","extra":nan}',
        '{"event":"PageView","eventId":"n3","extra": -Infinity}',
        '{"event":"PageView","eventId":"n4","extra":[1,inf]}',
        '{"event":"PageView","eventId":"n5","extra":INF}',
    ]
    strict = [
        '{"event":"PageView","eventId":"s1","pageTitle":"Nancy, nantes: info, infinity ,]"}',
        '{"event":"PageView","eventId":"s2","pageTitle":"a ,} b","extra":"NaN"}',
    ]
    report = wh.ingest(write_lines(tmp_path / "lenient.ndjson", lenient + strict))
    assert report.files[0].balanced and report.files[0].rows_valid == len(strict)
    assert quarantined(wh) == dict.fromkeys(range(1, len(lenient) + 1), "invalid_json")
    titles = wh.sql("select page_title from events order by event_id")["page_title"].to_list()
    assert titles == [json.loads(line)["pageTitle"] for line in strict]


def test_timestamps_in_seconds_millis_and_iso_offsets_land_as_the_same_utc_instant(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    forms = [
        "1790000000",
        "1790000000000",
        '"2026-09-21T14:13:20Z"',
        '"2026-09-21T16:13:20+02:00"',
        '"2026-09-21 09:13:20-05:00"',
        '"1790000000"',
    ]
    lines = [
        f'{{"event":"PageView","eventId":"t{i}","ts":{ts},"pageUrl":"https://x.io/"}}'
        for i, ts in enumerate(forms)
    ]
    wh.ingest(write_lines(tmp_path / "ts.ndjson", lines))
    ts = wh.sql("select distinct ts from events")["ts"].to_list()
    assert ts == [dt.datetime(2026, 9, 21, 14, 13, 20, tzinfo=dt.UTC)]


def test_missing_ts_and_event_id_are_filled_and_flagged_deterministically(tmp_path: Path) -> None:
    line = '{"event":"PageView","pageUrl":"https://x.io/"}'
    ids = []
    for name in ("a", "b"):
        with tw.connect(tmp_path / f"{name}.duckdb") as wh:
            wh.ingest(write_lines(tmp_path / f"{name}.ndjson", [line]), received_at=RECEIVED)
            row = wh.events().row(0, named=True)
            ids.append(row["event_id"])
            assert row["ts"] == RECEIVED and row["ts_inferred"] and row["event_id_generated"]
            assert set(row["warnings"]) == {"ts_inferred", "event_id_generated"}
    assert ids[0] == ids[1] and ids[0].startswith("gen_")


def test_three_shapes_normalize_to_the_same_row(wh: tw.Warehouse, tmp_path: Path) -> None:
    flat = {
        "event": "Purchase",
        "eventId": "p1",
        "ts": 1790000000,
        "email": "j@acme.io",
        "value": 9900,
        "currency": "USD",
        "transactionId": "txn_1",
        "pageUrl": "https://a.io/p",
    }
    nested = {
        "event": "Purchase",
        "eventId": "p2",
        "ts": 1790000000,
        "pageUrl": "https://a.io/p",
        "userData": {"email": "j@acme.io"},
        "customData": {"value": 9900, "currency": "USD", "transactionId": "txn_1"},
    }
    seed002 = {
        "projectKey": "pk_1",
        "event_name": "Purchase",
        "eventId": "p3",
        "timestamp": "2026-09-21T14:13:20.000Z",
        "url": "https://a.io/p",
        "event_data": {
            "category": "billing",
            "label": "hero",
            "value": 9900,
            "email": "j@acme.io",
            "currency": "USD",
            "transactionId": "txn_1",
            "custom_field": "kept",
        },
        "userId": "u1",
        "sessionId": "s1",
        "page_title": "Pay",
        "page_path": "/p",
        "userAgent": "UA",
        "referrer": "https://r.io/",
    }
    wh.ingest(
        write_lines(tmp_path / "shapes.ndjson", [json.dumps(x) for x in (flat, nested, seed002)])
    )
    rows = wh.sql("select * from events order by event_id").to_dicts()
    common = (
        "event_name",
        "ts",
        "email",
        "value",
        "currency",
        "transaction_id",
        "page_url",
        "stage",
    )
    assert [{k: r[k] for k in common} for r in rows] == [{k: rows[0][k] for k in common}] * 3
    assert [r["input_shape"] for r in rows] == ["flat", "nested", "seed002"]
    s = rows[2]
    assert (
        s["project_key"],
        s["event_category"],
        s["event_label"],
        s["user_id"],
        s["external_id"],
        s["page_title"],
        s["page_path"],
        s["session_id"],
    ) == (KEY_FINGERPRINT, "billing", "hero", "u1", "u1", "Pay", "/p", "s1")


KEY_FINGERPRINT = "sha256:" + hashlib.sha256(b"pk_1").hexdigest()[:16]
"""What is stored of ``projectKey`` "pk_1" (a key is never stored)."""


def test_extensions_pageview_warning_and_unknown_keys_are_kept(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    lines = [
        '{"event":"ButtonClick","eventId":"x1","ts":1790000000,"color":"red"}',
        '{"event":"PageView","eventId":"x2","ts":1790000000}',
    ]
    report = wh.ingest(write_lines(tmp_path / "ext.ndjson", lines))
    assert report.files[0].rows_valid == 2
    rows = {r["event_id"]: r for r in wh.events().to_dicts()}
    assert (rows["x1"]["stage"], rows["x1"]["is_canonical"]) == ("Custom", False)
    assert json.loads(rows["x1"]["properties"]) == {"color": "red"}
    assert "unknown_fields" in rows["x1"]["warnings"]
    assert rows["x2"]["warnings"] == ["missing_recommended:pageUrl"]


def test_duplicates_within_a_file_and_across_files_point_at_the_first_copy(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    ev = '{"event":"PageView","eventId":"d1","ts":1790000000,"pageUrl":"https://x.io/"}'
    first = wh.ingest(write_lines(tmp_path / "one.ndjson", [ev, ev]))
    second = wh.ingest(write_lines(tmp_path / "two.ndjson", ["", ev]))
    assert (first.files[0].rows_duplicate, second.files[0].rows_duplicate) == (1, 1)
    assert second.files[0].blank_lines == 1
    dups = wh.sql(
        "select d.line_no, d.first_line_no, d.batch_id = d.first_batch_id as same "
        "from duplicates d order by d.detected_at, d.line_no"
    ).rows()
    assert dups == [(2, 1, True), (2, 1, False)]


def test_every_input_format_loads(wh: tw.Warehouse, tmp_path: Path) -> None:
    ev = {"event": "SignUp", "eventId": "f", "ts": 1790000000, "email": "a@b.io"}
    write_lines(tmp_path / "a.jsonl", [json.dumps({**ev, "eventId": "f1"})])
    body = tmp_path / "b.json"
    body.write_text(json.dumps({"events": [{**ev, "eventId": "f2"}, {**ev, "eventId": "f3"}]}))
    array = tmp_path / "c.json.gz"
    array.write_bytes(gzip.compress(json.dumps([{**ev, "eventId": "f4"}]).encode()))
    ndgz = tmp_path / "d.ndjson.gz"
    ndgz.write_bytes(gzip.compress((json.dumps({**ev, "eventId": "f5"}) + "\r\n").encode()))
    pl.DataFrame([{**ev, "eventId": "f6"}]).write_parquet(tmp_path / "e.parquet")
    csv = tmp_path / "f.csv"
    csv.write_text(
        "event,eventId,ts,email,value\nSignUp,f7,1790000000,a@b.io,\n"
        "SignUp,f8,1790000000,,\nSignUp,f9,1790000000\n"
        'Purchase,f10,2026-09-21T14:13:20Z,a@b.io,"1,5",extra\n'
    )
    (tmp_path / "notes.txt").write_text("a folder's other files are skipped")
    report = wh.ingest(tmp_path)
    assert report.ok and all(f.balanced for f in report.files) and len(report.files) == 6
    assert sorted(wh.events()["event_id"]) == ["f1", "f2", "f3", "f4", "f5", "f6", "f7"]
    assert quarantined(wh) == {3: "missing_required:email", 4: "csv_shape", 5: "csv_shape"}


def test_unreadable_files_are_named_and_the_rest_still_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write_lines(
        tmp_path / "good.ndjson",
        ['{"event":"PageView","eventId":"g","ts":1790000000,"pageUrl":"https://x/"}'],
    )
    broken_doc = tmp_path / "broken.json"
    broken_doc.write_text('{"events": [')
    bad_gz = tmp_path / "bad.ndjson.gz"
    bad_gz.write_bytes(b"not gzip")
    db = tmp_path / "cli.duckdb"
    code = main(
        [
            "--db",
            str(db),
            "ingest",
            str(broken_doc),
            str(tmp_path / "missing.ndjson"),
            str(bad_gz),
            str(tmp_path / "x.txt"),
            str(good),
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and not out["ok"]
    status = {Path(f["path"]).name: f["status"] for f in out["files"]}
    assert status == {
        "broken.json": "unreadable",
        "missing.ndjson": "unreadable",
        "bad.ndjson.gz": "unreadable",
        "x.txt": "unreadable",
        "good.ndjson": "loaded",
    }
    errors = {Path(f["path"]).name: f["error"] for f in out["files"]}
    assert "not valid JSON" in errors["broken.json"] and "unsupported file type" in errors["x.txt"]
    with tw.connect(db) as wh:
        assert wh.events()["event_id"].to_list() == ["g"]


def test_invalid_utf8_lines_are_quarantined_and_the_rest_loads(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    path = tmp_path / "bytes.ndjson"
    path.write_bytes(
        b'{"event":"PageView","eventId":"u1","ts":1790000000,"pageUrl":"https://x/"}\n'
        b'{"event":"PageView","eventId":"u2","pageTitle":"\xff\xfe"}\n'
    )
    report = wh.ingest(path)
    assert report.files[0].balanced and quarantined(wh) == {2: "invalid_utf8"}
    assert "\\xff" in wh.quarantine()["raw"][0]


def test_env_var_and_cli_db_flag_choose_the_warehouse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKSTACK_DB", str(tmp_path / "from_env.duckdb"))
    assert tw.connect().path == tmp_path / "from_env.duckdb"
    event = write_lines(tmp_path / "e.ndjson", ['{"event":"PageView","ts":1790000000}'])
    assert main(["ingest", str(event), "--db", str(tmp_path / "flag.duckdb")]) == 0
    assert (tmp_path / "flag.duckdb").exists()


def test_many_small_chunks_account_like_one_chunk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "chunks.ndjson"
    write_ndjson(path, SyntheticSpec(n=3_000, seed=11, malformed_rate=0.01))
    text = path.read_bytes().replace(b"\n", b"\r\n", 200)
    lines = text.split(b"\n")
    path.write_bytes(b"\n".join(lines[:50] + [b"", b"  \t ", b"\r"] + lines[50:]))
    whole = tw.connect(tmp_path / "whole.duckdb").ingest(path).files[0]
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(row_groups, "CHUNK_ROWS", 700)
    monkeypatch.setattr(row_groups, "ROW_GROUP_ROWS", 350)
    chunked_wh = tw.connect(tmp_path / "chunked.duckdb")
    chunked = chunked_wh.ingest(path).files[0]
    assert chunked.balanced and chunked.blank_lines == 3
    assert (chunked.rows_in, chunked.rows_valid, chunked.rows_quarantined) == (
        whole.rows_in,
        whole.rows_valid,
        whole.rows_quarantined,
    )
    assert chunked.rows_duplicate == whole.rows_duplicate == 60
    assert chunked.quarantine_reasons == whole.quarantine_reasons
    first_copies = chunked_wh.sql(
        "select count(*)::bigint n from duplicates d join events e "
        "on e.batch_id = d.first_batch_id and e.line_no = d.first_line_no "
        "and e.event_id = d.event_id"
    )
    assert first_copies["n"][0] == chunked.rows_duplicate


def _fail_after_rows(monkeypatch: pytest.MonkeyPatch, path: Path, rows: int) -> None:
    """Make reading ``path`` fail once ``rows`` records have been read (small chunks, so
    several chunks have committed by then)."""
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 << 10)
    monkeypatch.setattr(row_groups, "CHUNK_ROWS", 700)
    monkeypatch.setattr(row_groups, "ROW_GROUP_ROWS", 350)
    real = readers.read_chunks

    def failing(p: Path, limits: object = None) -> Iterator[pa.Table]:
        read = 0
        for chunk in real(p):
            yield chunk
            read += chunk.num_rows
            if read >= rows:
                raise readers.UnreadableFileError(str(p), "disk went away")

    monkeypatch.setattr(readers, "read_chunks", failing)


def test_a_file_that_fails_midway_leaves_nothing(
    wh: tw.Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wh.ingest(write_lines(tmp_path / "first.ndjson", ['{"event":"PageView","eventId":"p"}']))
    before = table_fingerprint(wh)
    path = tmp_path / "big.ndjson"
    write_ndjson(path, SyntheticSpec(n=3_000, seed=5, malformed_rate=0.01))
    _fail_after_rows(monkeypatch, path, 2_000)
    committed = []
    real_load = pipeline._Batch.load_chunk
    monkeypatch.setattr(
        pipeline._Batch, "load_chunk", lambda self, c: committed.append(real_load(self, c))
    )
    [report] = wh.ingest(path).files
    assert report.status == "unreadable" and "disk went away" in report.error
    assert len(committed) >= 2
    assert table_fingerprint(wh) == before
    assert wh.sql("select count(*)::bigint n from ingest_loading")["n"][0] == 0


def test_a_killed_load_is_undone_when_the_warehouse_is_next_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "big.ndjson"
    write_ndjson(path, SyntheticSpec(n=3_000, seed=6, malformed_rate=0.01, duplicate_rate=0.02))
    clean = tw.connect(tmp_path / "clean.duckdb").ingest(path).files[0]
    db = tmp_path / "killed.duckdb"
    with monkeypatch.context() as patch:
        _fail_after_rows(patch, path, 2_000)
        patch.setattr(pipeline, "discard_load", lambda conn, batch_id: None)  # as if killed
        with tw.connect(db) as wh:
            assert wh.ingest(path).files[0].status == "unreadable"
            left = "select (select count(*) from events) e, (select count(*) from ingest_loading) l"
            assert wh.sql(left)["e"][0] > 0 and wh.sql(left)["l"][0] == 1
            # This process's own loads may still be running on another thread: kept.
            assert tw.connect(db).sql(left)["l"][0] == 1
            # The same file ingested again in this process replaces what its attempt left.
            patch.undo()
            assert wh.ingest(path).files[0].status == "loaded"
            assert wh.sql(left).row(0) == (clean.rows_valid, 0)
            wh.conn.execute("delete from events; delete from quarantine; delete from duplicates")
            wh.conn.execute("delete from ingest_batches")
            _fail_after_rows(patch, path, 2_000)
            patch.setattr(pipeline, "discard_load", lambda conn, batch_id: None)
            assert wh.ingest(path).files[0].status == "unreadable"
            wh.sql("update ingest_loading set pid = 0 returning pid")  # a process now gone
    wh = tw.connect(db)
    counts = (
        "select (select count(*) from events) e, (select count(*) from quarantine) q, "
        "(select count(*) from duplicates) d, (select count(*) from ingest_loading) l"
    )
    assert wh.sql(counts).row(0) == (0, 0, 0, 0)
    again = wh.ingest(path).files[0]
    assert again.status == "loaded" and again.balanced
    assert (again.rows_valid, again.rows_quarantined, again.rows_duplicate) == (
        clean.rows_valid,
        clean.rows_quarantined,
        clean.rows_duplicate,
    )
    assert wh.sql(counts).row(0) == (
        clean.rows_valid,
        clean.rows_quarantined,
        clean.rows_duplicate,
        0,
    )


def test_reading_ahead_hands_reader_errors_to_the_caller(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_lines(tmp_path / "a.ndjson", ['{"event": "PageView"}'] * 10)
    monkeypatch.setattr(row_groups, "CHUNK_ROWS", 5)
    real = readers.read_chunks

    def broken(_: Path, limits: object = None) -> Iterator[pa.Table]:
        yield from real(path)
        raise readers.UnreadableFileError(str(path), "disk went away")

    monkeypatch.setattr(readers, "read_chunks", broken)
    with ahead.ChunksAhead(path) as chunks:
        assert [next(chunks).num_rows, next(chunks).num_rows] == [5, 5]
        with pytest.raises(readers.UnreadableFileError, match="disk went away"):
            next(chunks)
        assert list(chunks) == []
    with ahead.ChunksAhead(path) as early:  # closed before its chunks are all taken
        next(early)
    assert not early._worker.is_alive()


def test_infinite_and_out_of_range_timestamps_are_type_errors(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    lines = [
        '{"event":"PageView","eventId":"inf","ts":"infinity"}',
        '{"event":"PageView","eventId":"big","ts":1180591620717411303424}',
        '{"event":"PageView","eventId":"neg","ts":"-infinity"}',
        '{"event":"PageView","eventId":"ok","ts":1761000000}',
    ]
    report = wh.ingest(write_lines(tmp_path / "ts.ndjson", lines), received_at=RECEIVED)
    [f] = report.files
    assert f.balanced and f.rows_valid == 1
    assert set(quarantined(wh).values()) == {"invalid_type:ts"}


def _lines_table(first: int, n: int, **metadata: bytes) -> pa.Table:
    table = pa.table(
        {
            "line_no": pa.array(range(first, first + n), pa.int64()),
            "raw": pa.array([f'{{"n":{i}}}' for i in range(first, first + n)], pa.string()),
            "pre_reason": pa.nulls(n, pa.string()),
        }
    )
    return table.replace_schema_metadata(metadata or None)


def test_row_group_chunks_keep_order_sizes_and_metadata() -> None:
    chunks = [
        _lines_table(1, 7, blank_lines=b"2"),
        _lines_table(8, 0, blank_lines=b"1", edge_batches=b'["h1"]'),
        _lines_table(8, 12, edge_batches=b'["h2","h3"]'),
        _lines_table(20, 3),
    ]
    out = list(row_groups.row_group_chunks(chunks, rows=10))
    assert [t.num_rows for t in out] == [10, 10, 2]
    assert pa.concat_tables(out)["line_no"].to_pylist() == list(range(1, 23))
    blank = sum(int(t.schema.metadata[b"blank_lines"]) for t in out)
    edges = [h for t in out for h in json.loads(t.schema.metadata.get(b"edge_batches", b"[]"))]
    assert blank == 3 and edges == ["h1", "h2", "h3"]


def test_row_group_chunks_carry_blank_lines_of_a_file_without_records() -> None:
    out = list(row_groups.row_group_chunks([_lines_table(1, 0, blank_lines=b"4")], rows=10))
    assert [(t.num_rows, t.schema.metadata[b"blank_lines"]) for t in out] == [(0, b"4")]


def test_row_group_batches_are_whole_row_groups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(row_groups, "ROW_GROUP_ROWS", 4)
    table = pa.concat_tables([_lines_table(1, 3), _lines_table(4, 7)])
    batches = row_groups.row_group_batches(table).to_batches()
    assert [b.num_rows for b in batches] == [4, 4, 2]
    assert pa.Table.from_batches(batches)["line_no"].to_pylist() == list(range(1, 11))


@pytest.mark.parametrize(
    "ts", ["0000-01-01T00:00:00Z", -62167219200000, "9999-12-31T23:59:59Z", 2534023008000000]
)
def test_timestamps_beyond_python_years_are_quarantined_not_crashing(
    wh: tw.Warehouse, tmp_path: Path, ts: object
) -> None:
    good = {"event": "PageView", "ts": "2026-10-01T10:00:00Z", "eventId": "good"}
    bad = {"event": "PageView", "ts": ts, "eventId": "bad"}
    report = wh.ingest(write_lines(tmp_path / "years.ndjson", [json.dumps(good), json.dumps(bad)]))
    assert report.files[0].rows_valid == 1
    assert report.files[0].quarantine_reasons == {"ts_out_of_range": 1}


def test_click_ids_only_in_the_url_are_extracted_and_explicit_fields_win(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    base = {"event": "PageView", "ts": 1_760_000_000_000}
    records = [
        {**base, "eventId": "url", "pageUrl": "https://app.example.com/?utm_source=a"
         "&gclid=Cj0K%2DabC&fbclid=IwAR1&ttclid=E.C.P.x#pricing"},
        {**base, "eventId": "explicit", "gclid": "given", "pageUrl": "https://a.example.com/"
         "?gclid=from-url&li_fat_id=li1", "userData": {"ttclid": "nested"}},
        {**base, "eventId": "referrer", "pageUrl": "https://a.example.com/landing",
         "referrer": "https://go.example.com/?ScCid=sc1&rdt_cid=r1&msclkid=m1&twclid=t1"
         "&gbraid=g1&wbraid=w1"},
        {**base, "eventId": "alias", "pageUrl": "https://a.example.com/?sc_click_id=sc2"
         "&xgclid=no&gclid=&fbc=fb.1.1.x&_fbp=fb.1.2.y"},
    ]  # fmt: skip
    path = tmp_path / "clicks.ndjson"
    write_lines(path, [json.dumps(r) for r in records])
    wh.ingest(path)
    got = {
        row["event_id"]: {k: v for k, v in row.items() if v is not None and k != "event_id"}
        for row in wh.sql(
            "select event_id, fbclid, fbc, fbp, gclid, gbraid, wbraid, li_fat_id, ttclid, "
            "sc_cid, rdt_cid, msclkid, twclid from events"
        ).iter_rows(named=True)
    }
    assert got == {
        "url": {"gclid": "Cj0K-abC", "fbclid": "IwAR1", "ttclid": "E.C.P.x"},
        "explicit": {"gclid": "given", "ttclid": "nested", "li_fat_id": "li1"},
        "referrer": {"sc_cid": "sc1", "rdt_cid": "r1", "msclkid": "m1", "twclid": "t1",
                     "gbraid": "g1", "wbraid": "w1"},
        "alias": {"sc_cid": "sc2"},  # cookies and empty or look-alike parameters: nothing
    }  # fmt: skip


def test_identify_records_land_in_identities_with_accounting_reasons_and_dedup(
    wh: tw.Warehouse, tmp_path: Path
) -> None:
    ts = 1_760_000_000_000
    records = [
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "ts": ts, "messageId": "m1",
         "traits": {"email": "Ann@Acme.test", "firstName": "Ann", "seats": 12,
                    "address": {"city": "Berlin"}}},
        {"type": "identify", "userId": "u1", "traits": {"email": "ann@acme.test"}, "ts": ts,
         "messageId": "m1"},  # the same messageId again: a duplicate
        {"type": "IDENTIFY", "anonymousId": "a2", "sessionId": "s2"},  # links only, no traits
        {"projectKey": "pk_demo", "userId": "u4", "user_traits": {"company": "Acme"},
         "timestamp": "2026-10-01T00:00:00Z"},  # the seed 002 shape
        {"type": "identify", "traits": {"email": "x@acme.test"}},
        {"type": "identify", "userId": "u5", "traits": ["email"], "ts": "soon"},
        {"type": "identify", "userId": "u6", "traits": {}, "ts": 946_000_000},
        {"event": "SignUp", "eventId": "e1", "ts": ts, "email": "ann@acme.test",
         "externalId": "u1"},
    ]  # fmt: skip
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps({"events": records}))  # an edge body: identify inside a batch
    [f] = wh.ingest(path).files
    assert (f.rows_in, f.rows_valid, f.rows_identify) == (8, 4, 3)
    assert (f.rows_quarantined, f.rows_duplicate) == (3, 1) and f.balanced
    assert quarantined(wh) == {5: "identify_without_person", 6: "invalid_type:traits",
                               7: "ts_out_of_range"}  # fmt: skip
    [reasons] = wh.sql("select reasons from quarantine where line_no = 6")["reasons"].to_list()
    assert reasons == ["invalid_type:traits", "invalid_type:ts"]
    assert wh.sql("select event_id from duplicates")["event_id"].to_list() == ["m1"]
    rows = wh.sql(
        "select line_no, person_key, person_key_kind, trait, value from identities "
        "order by line_no, trait"
    ).rows()
    assert rows == [
        (1, "u1", "user_id", "address", '{"city":"Berlin"}'),
        (1, "u1", "user_id", "email", "Ann@Acme.test"),
        (1, "u1", "user_id", "firstName", "Ann"),
        (1, "u1", "user_id", "seats", "12"),
        (3, "a2", "anonymous_id", None, None),
        (4, "u4", "user_id", "company", "Acme"),
    ]
    assert wh.sql("select event_id from events")["event_id"].to_list() == ["e1"]
    first = wh.sql("select first_seen, records from identity_traits where trait = 'company'")
    assert first.row(0) == (dt.datetime(2026, 10, 1, tzinfo=dt.UTC), 1)
    assert wh.ingest(path).files[0].status == "already_ingested"
    assert wh.sql("select count(*) as n from identities")["n"][0] == len(rows)
