-- Quarantine replays (trackstack_wh/ingest/replay.py): each run of wh.replay_quarantine()
-- or `trackstack-wh quarantine --replay`, and per record it took out of quarantine where
-- that record went. A moved record keeps its batch_id and line_no; its batch's
-- ingest_batches counts move with it (rows_quarantined down, rows_valid or
-- rows_duplicate up).
create sequence if not exists quarantine_replay_seq;

create table if not exists quarantine_replays (
    replay_id bigint not null,
    replayed_at timestamptz not null,
    finished_at timestamptz,             -- null while it runs, or when it was cut short
    reason_filter varchar,
    file_filter varchar,
    rule varchar not null,               -- revalidate [+ default_currency=XXX] [+ fix=module.name]
    rows_examined bigint not null,
    rows_moved bigint not null,          -- into events (or identities, for identify records)
    rows_duplicate bigint not null,      -- into duplicates (a copy of a record already loaded)
    rows_still_quarantined bigint not null
);

create table if not exists quarantine_moves (
    replay_id bigint not null,
    batch_id varchar not null,
    line_no bigint not null,
    event_id varchar not null,           -- the event, identify record or duplicate's ID
    moved_to varchar not null,           -- events | identities | duplicates
    raw_before varchar                   -- the quarantined text, when a fix changed it
);
