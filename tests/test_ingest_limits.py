"""Bad input never sinks a load: oversized records, broken CSV rows, unmappable columns,
failed files, empty and damaged files each get one clear reason, and the rest loads."""

from __future__ import annotations

import dataclasses
import gzip
import json
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import trackstack_wh as tw
from tests.helpers import write_lines
from trackstack_wh.cli import main
from trackstack_wh.config import load_config
from trackstack_wh.config.ingest import IngestSettings
from trackstack_wh.config.workspace import parse_config
from trackstack_wh.errors import ConfigError
from trackstack_wh.ingest import pipeline, readers, row_groups
from trackstack_wh.ingest.chunk import PREVIEW_BYTES, records_chunk

TS = 1788227593127


def view(event_id: str, **fields: object) -> str:
    return json.dumps({"event": "ContentView", "eventId": event_id, "ts": TS,
                       "contentType": "blog", **fields})  # fmt: skip


def limited(tmp_path: Path, max_record_bytes: int, **more: int) -> tw.Warehouse:
    config = dataclasses.replace(load_config(None), ingest=IngestSettings(max_record_bytes, **more))
    return tw.connect(tmp_path / "wh.duckdb", config=config)


def quarantine_rows(wh: tw.Warehouse) -> list[tuple[int, str, str]]:
    rows = wh.sql("select line_no, reason, raw from quarantine order by line_no")
    return [tuple(r) for r in rows.iter_rows()]


@pytest.mark.parametrize("ending", ["\n", "\r\n", ""])
def test_a_line_longer_than_the_reader_buffer_is_skipped_to_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ending: str
) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 << 10)  # the huge line spans many blocks
    huge = view("huge", pageUrl="https://a.example.com/?q=" + "x" * 500_000)
    lines = [view("a"), view("b"), huge, view("c")]
    path = tmp_path / "big.ndjson"
    path.write_bytes(("\n".join(lines[:3]) + "\n" + lines[3] + ending).encode())
    with limited(tmp_path, 8 << 10) as wh:
        [report] = wh.ingest(path).files
        assert (report.rows_in, report.rows_valid, report.rows_quarantined) == (4, 3, 1)
        [(line, reason, raw)] = quarantine_rows(wh)
        assert (line, reason) == (3, "record_too_large")
        assert raw.startswith(huge[:PREVIEW_BYTES]) and f"a record of {len(huge)} bytes" in raw
        assert sorted(wh.sql("select event_id from events")["event_id"]) == ["a", "b", "c"]
        assert wh.sql("select line_no from events where event_id = 'c'").item() == 4


def test_a_huge_last_line_without_a_line_break(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "BLOCK_BYTES", 64 << 10)
    huge = view("huge", pageUrl="y" * 300_000)
    path = tmp_path / "last.ndjson"
    path.write_text(view("a") + "\n" + huge)
    with limited(tmp_path, 8 << 10) as wh:
        [report] = wh.ingest(path).files
        assert (report.rows_in, report.rows_valid, report.rows_quarantined) == (2, 1, 1)
        assert quarantine_rows(wh)[0][:2] == (2, "record_too_large")


def test_records_over_the_limit_in_any_format_are_quarantined(tmp_path: Path) -> None:
    long_url = "https://a.example.com/" + "z" * 5_000
    ndjson = write_lines(tmp_path / "mid.ndjson", [view("n1"), view("n2", pageUrl=long_url)])
    array = tmp_path / "doc.json"
    array.write_text(json.dumps([json.loads(view("j1")), json.loads(view("j2", pageUrl=long_url))]))
    csv = tmp_path / "rows.csv"
    csv.write_text(f"event,eventId,ts,contentType,pageUrl\nContentView,c1,{TS},blog,x\n"
                   f"ContentView,c2,{TS},blog,{long_url}\n")  # fmt: skip
    parquet = tmp_path / "rows.parquet"
    pq.write_table(
        pa.table({"event": ["ContentView"] * 2, "eventId": ["p1", "p2"], "ts": [TS, TS],
                  "contentType": ["blog"] * 2, "pageUrl": ["x", long_url]}), parquet)  # fmt: skip
    with limited(tmp_path, 4 << 10) as wh:
        report = wh.ingest([ndjson, array, csv, parquet])
        assert report.ok
        for f in report.files:
            assert (f.rows_in, f.rows_valid, f.quarantine_reasons) == (
                2, 1, {"record_too_large": 1}
            ), f  # fmt: skip
        assert wh.sql("select count(*) from events").item() == 4


def test_one_big_line_and_a_good_file_load_within_a_small_memory_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big_line.ndjson"
    with big.open("w") as fh:  # 40 MB on one line: read in blocks, never held whole
        fh.write('{"event":"ContentView","eventId":"big","pageUrl":"')
        for _ in range(40):
            fh.write("a" * (1 << 20))
        fh.write('"}\n')
    good = write_lines(tmp_path / "good.ndjson", [view(f"g{i}") for i in range(50)])
    monkeypatch.setenv("TRACKSTACK_MEMORY_LIMIT", "256MB")
    code = main(["--db", str(tmp_path / "wh.duckdb"), "ingest", str(big), str(good)])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    assert "big_line.ndjson: 1 in = 0 loaded + 1 quarantined" in out
    assert "good.ndjson: 50 in = 50 loaded" in out


def test_a_latin1_csv_row_is_quarantined_and_the_good_rows_load(tmp_path: Path) -> None:
    path = tmp_path / "billing.csv"
    path.write_bytes(
        b"event,eventId,ts,contentType,companyName\n"
        b"ContentView,ok1,1788227593127,blog,Acme\n"
        b"ContentView,bad,1788227593127,blog,Caf\xe9 Ltd\n"
        b"ContentView,ok2,1788227593127,blog,Z\xc3\xbcrich AG\n"
        b"ContentView,shape,1788227593127\n"
        b"ContentView,both,1788227593127,blog,x,\xe9\n"
        b'ContentView,"quote,1788227593127,blog,never closed\n'
    )
    with tw.connect(tmp_path / "wh.duckdb") as wh:
        [report] = wh.ingest(path).files
        assert report.status == "loaded" and report.balanced
        assert sorted(wh.sql("select event_id from events")["event_id"]) == ["ok1", "ok2"]
        assert wh.sql("select company_name from events where event_id = 'ok2'").item() == (
            "Zürich AG"
        )
        rows = quarantine_rows(wh)
        assert [(line, reason) for line, reason, _ in rows] == [
            (3, "invalid_utf8"), (5, "csv_shape"), (6, "invalid_utf8"), (7, "csv_shape")
        ]  # fmt: skip
        assert json.loads(rows[0][2])["companyName"] == "Caf\\xe9 Ltd"
        assert "\uffff" not in "".join(raw for _, _, raw in rows)


def test_tables_whose_columns_cannot_be_mapped_fail_as_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "export.csv"
    csv.write_text("name,amount\nx,1\n")
    parquet = tmp_path / "export.parquet"
    pq.write_table(pa.table({"kind": ["SignUp"], "id": ["1"]}), parquet)
    good = write_lines(tmp_path / "good.ndjson", [view("g")])
    code = main(["--db", str(tmp_path / "wh.duckdb"), "ingest", str(csv), str(parquet), str(good)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "export.csv: UNREADABLE: the columns cannot be mapped" in out
    assert "found: name, amount" in out and "found: kind, id" in out
    assert "expected an event-name column (event, event_name, type)" in out
    assert "good.ndjson: 1 in = 1 loaded" in out


def test_a_file_whose_load_fails_is_undone_and_the_next_file_still_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_lines(tmp_path / "first.ndjson", [view("f1"), view("f2")])
    second = write_lines(tmp_path / "second.ndjson", [view("s1")])
    real = pipeline._Batch.load_chunk

    def out_of_memory(self: pipeline._Batch, chunk: pa.Table) -> None:
        if "first" in self.source:
            raise duckdb.OutOfMemoryException("could not allocate block of size 256.0 KiB")
        real(self, chunk)

    monkeypatch.setattr(pipeline._Batch, "load_chunk", out_of_memory)
    db = tmp_path / "wh.duckdb"
    code = main(["--db", str(db), "ingest", str(first), str(second)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert "first.ndjson: FAILED: DuckDB ran out of memory" in out
    assert "TRACKSTACK_MEMORY_LIMIT" in out and "second.ndjson: 1 in = 1 loaded" in out
    with tw.connect(db) as wh:
        assert wh.sql("select event_id from events")["event_id"].to_list() == ["s1"]
        assert wh.sql("select count(*) from ingest_loading").item() == 0
        monkeypatch.setattr(pipeline._Batch, "load_chunk", real)
        assert wh.ingest(first).files[0].rows_valid == 2  # nothing left behind: loads whole


def test_empty_damaged_and_binary_files_each_get_one_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    blank = write_lines(tmp_path / "blank.ndjson", ["", "  "])
    truncated = tmp_path / "cut.ndjson.gz"
    truncated.write_bytes(gzip.compress((view("x") + "\n").encode() * 200)[:60])
    trailing = tmp_path / "trailing.json"
    trailing.write_text('[{"event": "SignUp"}] and more')
    binary = tmp_path / "noise.parquet"
    binary.write_bytes(bytes(range(256)) * 4)
    noise = tmp_path / "noise.ndjson"
    noise.write_bytes(bytes(range(256)) * 4)
    paths = [empty, blank, truncated, trailing, binary, noise]
    code = main(["--db", str(tmp_path / "wh.duckdb"), "ingest", *map(str, paths)])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    lines = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert lines[str(empty)].startswith("empty: the file holds no records")
    assert lines[str(blank)].startswith("0 in = 0 loaded")
    assert lines[str(truncated)].startswith("UNREADABLE: cannot read the file")
    assert lines[str(trailing)].startswith("UNREADABLE: not valid JSON") and "trailing" in out
    assert lines[str(binary)].startswith("UNREADABLE: not a valid parquet file")
    assert "quarantined" in lines[str(noise)] and "invalid_utf8" in lines[str(noise)]


def test_a_json_document_over_its_limit_fails_as_a_file(tmp_path: Path) -> None:
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps([json.loads(view(f"d{i}")) for i in range(100)]))
    with limited(tmp_path, 1 << 10, max_document_bytes=4 << 10) as wh:
        [report] = wh.ingest(doc).files
    assert report.status == "unreadable" and "max_document_bytes" in (report.error or "")


def test_ingest_limits_are_checked_in_the_config() -> None:
    parsed = parse_config({"ingest": {"max_record_bytes": 65536}})
    assert parsed.ingest == IngestSettings(65536, 256 << 20)
    for bad in ({"max_record_bytes": 10}, {"max_records": 1},
                {"max_record_bytes": 4096, "max_document_bytes": 1024}):  # fmt: skip
        with pytest.raises(ConfigError, match="ingest"):
            parse_config({"ingest": bad})


def test_chunks_of_long_records_are_cut_by_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(row_groups, "WIDE_CHUNK_BYTES", 100_000)
    records = [view(f"w{i}", pageUrl="u" * 10_000) for i in range(50)]
    parts = [records_chunk(records[i : i + 25], np.arange(i + 1, i + 26)) for i in (0, 25)]
    chunks = list(row_groups.row_group_chunks(parts))
    assert all(c.num_rows <= 10 for c in chunks) and len(chunks) >= 5
    assert [r for c in chunks for r in c["raw"].to_pylist()] == records
