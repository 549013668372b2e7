"""The outbox: which payload rows still need sending (the log writer is ``logwriter``).

A row is sent until it has a final outcome (``delivered``, ``rejected``, ``superseded``) in
the same mode and target; a ``failed`` row is sent again by a later run once its
``retry_at`` is due (or on request). The log is written in small
transactions as answers come in, so a killed push loses at most the last fraction of a
second of log, and those rows are sent again with the same dedup key (the platform drops
the repeat).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb

from trackstack_wh.delivery.masking import Masker
from trackstack_wh.sql import in_range

FINAL = ("delivered", "rejected", "superseded")


@dataclass
class Batch:
    """Payload rows of one kind on their way out, column-wise."""

    kind: str
    event_ids: list[str]
    payloads: list[str]
    attempts: list[int]
    """Log rows so far for each (destination, kind, event, mode, target)."""
    failed_runs: list[int] = field(default_factory=list)
    """Runs so far that ended the row ``failed`` (spaces out the next run's retry)."""

    def __post_init__(self) -> None:
        if not self.failed_runs:
            self.failed_runs = [0] * len(self.event_ids)

    def __len__(self) -> int:
        return len(self.event_ids)

    def take(self, indices: Iterable[int]) -> Batch:
        chosen = list(indices)
        return Batch(
            self.kind,
            [self.event_ids[i] for i in chosen],
            [self.payloads[i] for i in chosen],
            [self.attempts[i] for i in chosen],
            [self.failed_runs[i] for i in chosen],
        )

    def without(self, indices: Iterable[int]) -> Batch:
        drop = set(indices)
        return self.take(i for i in range(len(self)) if i not in drop)

    def halves(self) -> tuple[Batch, Batch]:
        half = len(self) // 2
        return self.take(range(half)), self.take(range(half, len(self)))

    @classmethod
    def concat(cls, kind: str, parts: list[Batch]) -> Batch:
        return cls(
            kind,
            [e for p in parts for e in p.event_ids],
            [x for p in parts for x in p.payloads],
            [a for p in parts for a in p.attempts],
            [f for p in parts for f in p.failed_runs],
        )


def state_sql(only: str = "true") -> str:
    """Each row's delivery state in this mode and target (of the rows ``only`` keeps)."""
    return f"""
select event_id, max(attempt) as attempts, arg_max_null(outcome, attempt) as outcome,
    arg_max_null(retry_at, attempt) as retry_at,
    count(*) filter (outcome = 'failed') as failed_runs,
    arg_max_null(request_id, attempt) as request_id
from delivery_log
where destination = $destination and request_kind = $kind and mode = $mode
  and target = $target and outcome <> 'dry_run' and {only}
group by event_id"""


STATE_SQL = state_sql()

IN_SCOPE = (
    "{t}.destination = $destination and {t}.request_kind = $kind "
    "and {t}.mode = $mode and {t}.target = $target"
)

CANDIDATES = f"""
select p.* from {{table}} p
where p.request_kind = $kind and p.status = 'ready' and ($cursor is null or p.built_seq > $cursor)
union all
select p.* from {{table}} p
where p.request_kind = $kind and p.status = 'ready' and p.built_seq <= $cursor
  and p.event_seq in (select b.event_seq from delivery_backlog b where {IN_SCOPE.format(t="b")})
  and p.event_id in (select b.event_id from delivery_backlog b where {IN_SCOPE.format(t="b")})"""
"""Ready rows of ``{{table}}`` written since the scope's push cursor, and those left open at
or below it (every ready row while there is no cursor; `trackstack_wh.delivery.cursor`).
Two selects, not one with OR: each reads only its own row groups."""


OPEN = """(s.outcome is null or s.outcome not in ('delivered', 'rejected', 'superseded')
       and (s.outcome <> 'failed' or $retry_failed or s.retry_at <= to_timestamp($now_s)))"""
"""Still to send: no final outcome; a failed row once its cross-run retry is due (or when
failures are retried on request). A due retry is sent by any run, whatever its time
window (a scheduled run pushes one day; yesterday's failures must not wait forever)."""


CANDIDATE_ROWS = "event_id in (select event_id from candidates)"

KEY_ROWS = """event_id in (select k.event_id from {table} k
    where k.request_kind = $kind and k.dedup_key in (select dedup_key from carriers))"""
"""The rows of the record keys a run sends (their states decide what is merged)."""


def candidate_state_sql(table: str) -> str:
    """The logged state of each candidate row of ``table`` (`CANDIDATES`): what a run
    snapshots once per kind (`state_table`), so its count, its stream and its cursor
    read the delivery log once."""
    return f"""
with candidates as ({CANDIDATES.format(table=table)})
{state_sql(CANDIDATE_ROWS)}"""


def state_table(destination: str, kind: str) -> str:
    """Name of the table holding a run's state snapshot of one destination's kind (a
    plain table, dropped when the destination's run ends: the rows are streamed on a
    cursor of their own, which sees no temp table)."""
    return f"push_state_{destination}_{kind}"


STATE_PARAMS = ("destination", "kind", "mode", "target", "cursor")
"""The parameters `candidate_state_sql` takes."""


def pending_sql(table: str, *, upsert: bool, state: str | None = None) -> str:
    """Rows of one kind still to send (with their attempts so far), for ``table``.

    Upsert kinds (CRM records) are coalesced: per record key (``dedup_key``) only the
    latest pending row is sent, carrying the merged state of every ready row of the key
    (JSON merge patches in event order, so later values win and no field is lost; rows
    the platform rejected are left out, so one bad row never blocks its record); the
    key's other pending rows come back with ``carrier`` naming the row sent, after every
    row to send, so requests stay full. They are ``superseded`` once it is delivered.
    ``state``: a relation with the rows' logged state (`state_table`), else the log is read.
    """
    select = f"""
with candidates as ({CANDIDATES.format(table=table)}),
state as ({f"from {state}" if state else state_sql(CANDIDATE_ROWS)}),
pending as (
    select p.event_id, p.dedup_key, p.event_time, p.payload,
        coalesce(s.attempts, 0) as attempts, coalesce(s.failed_runs, 0) as failed_runs
    from candidates p
    left join state s on s.event_id = p.event_id
    where {OPEN}
      and (({in_range("p.event_time", "$since_s", "$until_s", "to_timestamp({})")})
           or s.retry_at <= to_timestamp($now_s))
      and ($event_names is null or exists (
          select 1 from events e where e.event_id = p.event_id
            and e.event_name in (select unnest($event_names::varchar[]))))
)"""
    if not upsert:
        return f"""{select}
select event_id, payload::varchar as payload, attempts, failed_runs,
    coalesce(epoch_ms(event_time) < $min_event_ms, false) as too_old,
    null::varchar as carrier
from pending"""
    return f"""{select},
carriers as (
    select dedup_key, arg_max(event_id, (event_time, event_id)) as carrier
    from pending group by dedup_key
),
key_state as ({state_sql(KEY_ROWS.format(table=table))}),
merged as (
    select p.dedup_key,
        list_reduce(list(p.payload::varchar order by p.event_time, p.event_id),
                    lambda a, b: json_merge_patch(a, b)::varchar) as payload
    from {table} p
    semi join carriers c on c.dedup_key = p.dedup_key
    left join key_state s on s.event_id = p.event_id
    where p.request_kind = $kind and p.status = 'ready'
      and s.outcome is distinct from 'rejected'
    group by p.dedup_key
)
select p.event_id, case when p.event_id = c.carrier then m.payload end as payload,
    p.attempts, p.failed_runs,
    coalesce(p.event_id = c.carrier and epoch_ms(p.event_time) < $min_event_ms, false)
        as too_old,
    case when p.event_id <> c.carrier then c.carrier end as carrier
from pending p
join carriers c using (dedup_key)
join merged m using (dedup_key)
order by p.event_id <> c.carrier, p.dedup_key, p.event_time, p.event_id"""


def logged_state(
    conn: duckdb.DuckDBPyConnection,
    destination: str,
    mode: str,
    target: str,
    kind: str,
    event_ids: list[str],
) -> dict[str, tuple[Any, ...]]:
    """``STATE_SQL`` for these events: (attempts, outcome, retry_at, failed_runs,
    request_id) by event ID."""
    found = conn.execute(
        f"select * from ({STATE_SQL}) where event_id in (select unnest($ids::varchar[]))",
        {"destination": destination, "kind": kind, "mode": mode, "target": target,
         "ids": event_ids},
    ).fetchall()  # fmt: skip
    return {event_id: tuple(rest) for event_id, *rest in found}


def still_open(
    conn: duckdb.DuckDBPyConnection, destination: str, mode: str, target: str, rows: Batch
) -> Batch:
    """Rows of ``rows`` without a final outcome in the log, with their logged attempts."""
    state = logged_state(conn, destination, mode, target, rows.kind, rows.event_ids)
    none = (0, None, None, 0, None)
    keep = [
        i for i, e in enumerate(rows.event_ids)
        if state.get(e, none)[1] not in ("delivered", "rejected", "superseded", "failed")
    ]  # fmt: skip
    open_rows = rows.take(keep)
    open_rows.attempts = [state.get(e, none)[0] or 0 for e in open_rows.event_ids]
    open_rows.failed_runs = [state.get(e, none)[3] for e in open_rows.event_ids]
    return open_rows


def carriers_delivered(
    conn: duckdb.DuckDBPyConnection,
    destination: str,
    mode: str,
    target: str,
    kind: str,
    carriers: list[str],
) -> dict[str, str | None]:
    """For each carrier that is now ``delivered``, the request that delivered it."""
    state = logged_state(conn, destination, mode, target, kind, carriers)
    return {e: row[4] for e, row in state.items() if row[1] == "delivered"}


def carriers_not_found(
    conn: duckdb.DuckDBPyConnection,
    destination: str,
    mode: str,
    target: str,
    kind: str,
    carriers: list[str],
    code: str,
) -> dict[str, str]:
    """For each carrier now ``rejected`` with error ``code`` (``record_not_found``: the
    platform has no such record), the platform's message."""
    found = conn.execute(
        "select event_id, arg_max(error_message, attempt) from delivery_log "
        "where destination = $destination and request_kind = $kind and mode = $mode "
        "and target = $target and outcome <> 'dry_run' "
        "and event_id in (select unnest($ids::varchar[])) group by event_id "
        "having arg_max(outcome, attempt) = 'rejected' and arg_max(error_code, attempt) = $code",
        {"destination": destination, "kind": kind, "mode": mode, "target": target,
         "ids": carriers, "code": code},
    ).fetchall()  # fmt: skip
    return {event_id: message or "" for event_id, message in found}


@dataclass
class Pending:
    """One streamed slice of pending rows: those to send, those past the age limit at
    send time, and (upserts) those superseded by a later row of the same record."""

    send: Batch
    too_old: Batch
    superseded: Batch
    carriers: list[str]
    """For each superseded row, the event whose request carries its record's state."""


def stream_pending(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    params: dict[str, object],
    *,
    kind: str,
    upsert: bool,
    chunk: int,
    state: str | None = None,
) -> Iterator[Pending]:
    """Slices of at most ``chunk`` pending rows; streamed, so memory stays flat."""
    cursor = conn.cursor()
    try:
        query = pending_sql(table, upsert=upsert, state=state)
        reader = cursor.sql(query, params=params).to_arrow_reader(chunk)
        for record_batch in reader:
            columns = {
                name: record_batch.column(name).to_pylist() for name in record_batch.schema.names
            }
            rows = Batch(kind, columns["event_id"], columns["payload"], columns["attempts"],
                         columns["failed_runs"])  # fmt: skip
            carriers, too_old = columns["carrier"], columns["too_old"]
            superseded = [i for i, c in enumerate(carriers) if c is not None]
            old = [i for i, flag in enumerate(too_old) if flag]
            send = [i for i, (c, flag) in enumerate(zip(carriers, too_old, strict=True))
                    if c is None and not flag]  # fmt: skip
            yield Pending(
                rows.take(send),
                rows.take(old),
                rows.take(superseded),
                [carriers[i] for i in superseded],
            )
    finally:
        cursor.close()


STORED_TEXT = {"delivery_log": ("error_code", "error_message", "trace_id"),
               "delivery_requests": ("error_code", "trace_id")}  # fmt: skip


def scrub_stored(conn: duckdb.DuckDBPyConnection, mask: Masker) -> int:
    """Mask the run's credentials in log text stored before masking covered it (older
    versions kept what a platform echoed); returns the values rewritten."""
    if not mask:
        return 0
    forms = {f"f{i}": form for i, form in enumerate(mask.forms)}
    rewritten = 0
    for table, columns in STORED_TEXT.items():
        for column in columns:
            hit = " or ".join(f"contains({column}, ${name})" for name in forms)
            found = conn.execute(f"select distinct {column} from {table} where {hit}", forms)
            for (text,) in found.fetchall():
                conn.execute(f"update {table} set {column} = $new where {column} = $old",
                             {"new": mask(text), "old": text})  # fmt: skip
                rewritten += 1
    return rewritten
