-- Ingest bookkeeping: batches, quarantine, duplicates, and the contract's event catalogue.
create table if not exists ingest_batches (
    batch_id varchar primary key,
    source_uri varchar not null,
    content_sha256 varchar not null unique,
    file_format varchar not null,
    received_at timestamptz not null,
    ingested_at timestamptz not null,
    rows_in bigint not null,
    rows_valid bigint not null,
    rows_quarantined bigint not null,
    rows_duplicate bigint not null,
    blank_lines bigint not null
);

-- Numbers ingest batches in load order: an event's event_seq is its batch's number
-- times 2**32 plus its line number.
create sequence if not exists ingest_batch_seq;

create table if not exists quarantine (
    batch_id varchar not null,
    source_uri varchar not null,
    line_no bigint not null,
    raw varchar not null,
    reason varchar not null,
    reasons varchar[] not null,
    detail varchar not null,
    quarantined_at timestamptz not null
);

create table if not exists duplicates (
    event_id varchar not null,
    batch_id varchar not null,
    line_no bigint not null,
    first_batch_id varchar not null,
    first_line_no bigint not null,
    detected_at timestamptz not null
);

create table if not exists canonical_events (
    event_name varchar primary key,
    stage varchar not null,
    family varchar not null,
    description varchar not null,
    routes_ads boolean not null,
    routes_crm boolean not null,
    routes_warehouse boolean not null
);

-- A file whose chunks are being committed one by one, and the process loading it. Its
-- rows become part of the warehouse when its ingest_batches row is written (and this
-- row deleted) in the last transaction; a load that fails is undone at once, one whose
-- process died by the next writable connection (trackstack_wh/ingest/loading.py).
create table if not exists ingest_loading (
    batch_id varchar primary key,
    source_uri varchar not null,
    content_sha256 varchar not null,
    started_at timestamptz not null
);
alter table ingest_loading add column if not exists pid bigint;
