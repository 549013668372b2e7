"""Replaying quarantined records: validate them again and move those that now pass.

After a contract change, a config change or with a fix, ``replay_quarantine`` runs the
selected quarantined records of each finished batch (in load order, pages of
`PAGE_ROWS` lines) through the same validation, dedup and inserts as file ingest
(`trackstack_wh.ingest.pipeline.reload_records`):

- a record that now passes goes to ``events`` (or ``identities``), or to ``duplicates``
  when it repeats a record already loaded; it keeps its batch and line number, gets a
  fresh ``event_seq`` (above every earlier one, so incremental refreshes and payload
  builds take it as new) and leaves ``quarantine``;
- a record that still fails stays, its raw text and quarantine time kept, its
  ``reason``, ``reasons`` and ``detail`` those of this replay;
- each page commits on its own with its batch's ``ingest_batches`` counts
  (``rows_quarantined`` down, ``rows_valid`` / ``rows_duplicate`` / ``rows_identify``
  up) and the replay's row in ``quarantine_replays``; every moved record is listed in
  ``quarantine_moves``. Replaying again moves nothing more.

What can change a record: ``default_currency`` (``workspace.default_currency``) is given
to records quarantined for ``missing_required:currency`` (as their top-level
``currency``, the original text otherwise unchanged); ``fix`` is a callable taking
each record as a dict (JSON parsed strictly, the first of two equal keys kept, as
ingest reads it) and returning the fixed dict, or None to leave it. A record the fix
changed is taken as it returns it (no default added). Records quarantined before they
could be parsed (`UNPARSED_REASONS`) are judged as before: their text is not the record
(``record_too_large`` keeps 1 KiB, ``invalid_utf8`` escapes bytes, ``csv_shape`` is a
row) or cannot be parsed, so only re-sending fixes them.

A fix that raises stops the replay with the record named in the exception's notes:
pages already committed stay moved, and the replay's ``finished_at`` stays NULL.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import polars as pl

from trackstack_wh.config.ingest import ClientIpPolicy
from trackstack_wh.db import query_frame, transaction
from trackstack_wh.errors import UsageError
from trackstack_wh.ingest.chunk import CHUNK_SCHEMA
from trackstack_wh.ingest.pipeline import reload_records
from trackstack_wh.ingest.quarantined import FILTER_SQL, filters

RecordFix = Callable[[dict[str, Any]], dict[str, Any] | None]
"""A fix: the parsed record in, the fixed record (or None: leave it) out."""

PAGE_ROWS = 50_000
UNPARSED_REASONS = frozenset(
    {"invalid_utf8", "record_too_large", "csv_shape", "invalid_json", "not_an_object"}
)
MISSING_CURRENCY = "missing_required:currency"

BATCHES_SQL = f"""
select b.batch_id, b.source_uri, b.received_at
from ingest_batches b
where b.batch_id in (select q.batch_id from quarantine q where {FILTER_SQL})
order by b.ingested_at, b.batch_id"""
"""Finished batches with selected records (a file still loading has no row yet)."""

PAGE_SQL = f"""
select q.line_no, q.raw, q.reason, q.reasons, q.quarantined_at
from quarantine q
where q.batch_id = $batch and q.line_no > $after and {FILTER_SQL}
order by q.line_no
limit $n"""

RESTORE_SQL = """
update quarantine set raw = l.raw, quarantined_at = l.quarantined_at
from replayed_lines l
where quarantine.batch_id = $batch and quarantine.line_no = l.line_no"""
"""Records still quarantined keep their text and quarantine time (new reasons)."""

MOVES_SQL = """
insert into quarantine_moves
select $replay, $batch, e.line_no, e.event_id, 'events', l.raw_before
from events e join replayed_lines l using (line_no)
where e.event_seq >= $seq_base and e.event_seq < $seq_base + 4294967296
union all
select $replay, $batch, i.line_no, i.identify_id, 'identities', any_value(l.raw_before)
from identities i join replayed_lines l using (line_no)
where i.batch_id = $batch
group by i.line_no, i.identify_id
union all
select $replay, $batch, d.line_no, d.event_id, 'duplicates', l.raw_before
from duplicates d join replayed_lines l using (line_no)
where d.batch_id = $batch"""

ACCOUNT_SQL = """
update ingest_batches set rows_valid = rows_valid + $valid,
    rows_quarantined = rows_quarantined - $valid - $duplicate,
    rows_duplicate = rows_duplicate + $duplicate,
    rows_identify = coalesce(rows_identify, 0) + $identify
where batch_id = $batch"""

TALLY_SQL = """
update quarantine_replays set rows_examined = rows_examined + $examined,
    rows_moved = rows_moved + $valid, rows_duplicate = rows_duplicate + $duplicate,
    rows_still_quarantined = rows_still_quarantined + $still
where replay_id = $replay"""


@dataclass
class ReplayResult:
    """What a replay did: records examined = moved + duplicate + still quarantined."""

    replay_id: int
    rule: str
    rows_examined: int = 0
    rows_moved: int = 0
    rows_duplicate: int = 0
    rows_still_quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    """Records still quarantined, by first reason."""
    seconds: float = 0.0

    def summary(self) -> str:
        """One line, e.g. for the command line."""
        left = ", ".join(f"{r} {n}" for r, n in sorted(self.reasons.items(), key=lambda x: -x[1]))
        return (
            f"replay {self.replay_id} ({self.rule}): {self.rows_examined} examined = "
            f"{self.rows_moved} moved + {self.rows_duplicate} duplicate + "
            f"{self.rows_still_quarantined} still quarantined" + (f" ({left})" if left else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_rule(fix: RecordFix | None, default_currency: str | None) -> str:
    """What may change records in a replay (names only, never values a fix holds)."""
    parts = ["revalidate"]
    if default_currency is not None:
        parts.append(f"default_currency={default_currency}")
    if fix is not None:
        module = getattr(fix, "__module__", None) or "?"
        name = getattr(fix, "__qualname__", None) or type(fix).__qualname__
        parts.append(f"fix={module}.{name}")
    return " + ".join(parts)


def replay_quarantine(
    conn: duckdb.DuckDBPyConnection,
    *,
    reason: str | None = None,
    file: str | None = None,
    fix: RecordFix | None = None,
    default_currency: str | None = None,
    ip: ClientIpPolicy | None = None,
) -> ReplayResult:
    """Validate the selected quarantined records again (see the module docstring) and
    move those that pass; recorded in ``quarantine_replays`` and ``quarantine_moves``.
    ``ip``: the client IP policy moved records are stored under (default: truncate)."""
    if fix is not None and not callable(fix):
        raise UsageError(f"fix must be a callable taking and returning a dict, not {fix!r}")
    started = time.perf_counter()
    replay_id = conn.execute("select nextval('quarantine_replay_seq')").fetchall()[0][0]
    result = ReplayResult(replay_id, describe_rule(fix, default_currency))
    params = filters(reason, file)
    with transaction(conn):
        conn.execute(
            "insert into quarantine_replays (replay_id, replayed_at, reason_filter, "
            "file_filter, rule, rows_examined, rows_moved, rows_duplicate, "
            "rows_still_quarantined) values (?, now(), ?, ?, ?, 0, 0, 0, 0)",
            [result.replay_id, reason, file, result.rule],
        )
    reasons: dict[str, int] = {}
    for batch_id, source, received_at in conn.execute(BATCHES_SQL, params).fetchall():
        after = -(2**62)
        while True:
            page = query_frame(
                conn, PAGE_SQL, {**params, "batch": batch_id, "after": after, "n": PAGE_ROWS}
            )
            if page.is_empty():
                break
            after = int(page["line_no"][-1])
            records = prepare(page, source, fix, default_currency)
            still = _replay_page(conn, result, records, (batch_id, source, received_at), ip)
            for code, n in still.items():
                reasons[code] = reasons.get(code, 0) + n
    with transaction(conn):
        conn.execute(
            "update quarantine_replays set finished_at = now() where replay_id = ?",
            [result.replay_id],
        )
    result.reasons = reasons
    result.seconds = time.perf_counter() - started
    return result


def prepare(
    page: pl.DataFrame, source: str, fix: RecordFix | None, default_currency: str | None
) -> pl.DataFrame:
    """The page's records as they are validated again: ``line_no, raw, pre_reason``
    (the reason of a record that is not parsed again), ``original`` and
    ``quarantined_at``, and ``raw_before`` (the original text where it changed)."""
    code = pl.col("reason").str.split(":").list.first()
    frame = page.with_columns(
        original=pl.col("raw"),
        pre_reason=pl.when(code.is_in(sorted(UNPARSED_REASONS))).then(pl.col("reason")),
    )
    fixed = pl.lit(False)
    if fix is not None:
        texts = _fixed_texts(frame, source, fix)
        frame = frame.with_columns(raw=pl.Series(texts, dtype=pl.String))
        fixed = pl.col("raw") != pl.col("original")
    if default_currency is not None:
        body = pl.col("raw").str.strip_chars_start().str.slice(1)
        given = pl.concat_str(
            pl.lit('{"currency":' + json.dumps(default_currency)),
            pl.when(body.str.strip_chars_start().str.starts_with("}"))
            .then(pl.lit(""))
            .otherwise(pl.lit(",")),
            body,
        )
        needs = (
            pl.col("pre_reason").is_null()
            & ~fixed
            & pl.col("reasons").list.contains(MISSING_CURRENCY)
            & pl.col("raw").str.strip_chars_start().str.starts_with("{")
        )
        frame = frame.with_columns(raw=pl.when(needs).then(given).otherwise(pl.col("raw")))
    return frame.select(
        "line_no",
        "raw",
        "pre_reason",
        "original",
        "quarantined_at",
        raw_before=pl.when(pl.col("raw") != pl.col("original")).then(pl.col("original")),
    )


def _fixed_texts(frame: pl.DataFrame, source: str, fix: RecordFix) -> list[str]:
    """Each record's text after ``fix`` (unchanged where it is not offered or returns
    None or an equal record)."""
    out: list[str] = []
    rows = frame.select("line_no", "raw", "pre_reason").iter_rows()
    for line_no, raw, pre_reason in rows:
        record = None if pre_reason is not None else _parsed(raw)
        if record is None:
            out.append(raw)
            continue
        try:
            changed = fix(record)
            if changed is not None and not isinstance(changed, dict):
                raise TypeError(f"the fix returned {type(changed).__name__}, not a dict or None")
            text = raw if changed is None or changed == _parsed(raw) else _dumped(changed)
        except Exception as exc:
            exc.add_note(f"while fixing the quarantined record {source}:{line_no}")
            raise
        out.append(text)
    return out


def _first_key_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for key, value in pairs:
        record.setdefault(key, value)
    return record


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parsed(raw: str) -> dict[str, Any] | None:
    """The record as ingest reads it (strict JSON, first of equal keys), or None."""
    try:
        record = json.loads(raw, object_pairs_hook=_first_key_wins, parse_constant=_no_constant)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def _dumped(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _replay_page(
    conn: duckdb.DuckDBPyConnection,
    result: ReplayResult,
    records: pl.DataFrame,
    batch: tuple[str, str, dt.datetime],
    ip: ClientIpPolicy | None,
) -> dict[str, int]:
    """Move one page's records of ``batch`` (ID, source, received at) in one transaction;
    returns the still quarantined by reason."""
    batch_id, source, received_at = batch
    chunk = records.select("line_no", "raw", "pre_reason").to_arrow().cast(CHUNK_SCHEMA)
    lines = records.select("line_no", "quarantined_at", "raw_before", raw=pl.col("original"))
    with _registered(conn, "replayed_lines", lines), transaction(conn):
        conn.execute(
            "delete from quarantine where batch_id = ? "
            "and line_no in (select line_no from replayed_lines)",
            [batch_id],
        )
        loaded = reload_records(
            conn, chunk, batch_id=batch_id, source=source, received_at=received_at, ip=ip
        )
        valid, duplicate = loaded.rows_valid, loaded.rows_duplicate
        still = loaded.rows_quarantined
        if valid + duplicate + still != records.height:
            raise RuntimeError(f"replay of {batch_id} did not account for every record (a bug)")
        conn.execute(RESTORE_SQL, {"batch": batch_id})
        conn.execute(
            MOVES_SQL, {"replay": result.replay_id, "batch": batch_id, "seq_base": loaded.seq_base}
        )
        counts = {"valid": valid, "duplicate": duplicate, "batch": batch_id}
        conn.execute(ACCOUNT_SQL, {**counts, "identify": loaded.rows_identify})
        tally = {"replay": result.replay_id, "examined": records.height, "still": still}
        conn.execute(TALLY_SQL, {**tally, "valid": valid, "duplicate": duplicate})
    result.rows_examined += records.height
    result.rows_moved += valid
    result.rows_duplicate += duplicate
    result.rows_still_quarantined += still
    return dict(loaded.reasons)


@contextmanager
def _registered(conn: duckdb.DuckDBPyConnection, name: str, frame: pl.DataFrame) -> Iterator[None]:
    """Expose ``frame`` to SQL as ``name`` for the block."""
    conn.register(name, frame)
    try:
        yield
    finally:
        conn.unregister(name)
