-- Identify records (trackstack_wh.ingest.identify): one row per trait of each record, or
-- one row with no trait when a record only links its IDs; never counted as events.
create table if not exists identities (
    identify_id varchar not null,
    person_key varchar not null,
    person_key_kind varchar not null,
    user_id varchar,
    anonymous_id varchar,
    session_id varchar,
    trait varchar,
    value varchar,
    consent json,
    seen_at timestamptz not null,
    ts_inferred boolean not null,
    project_key varchar,
    project_id varchar,
    batch_id varchar not null,
    line_no bigint not null,
    received_at timestamptz not null
);

-- Per person and trait value: when it was first and last seen, and where from.
create or replace view identity_traits as
select person_key, person_key_kind, trait, value,
    min(seen_at) as first_seen, max(seen_at) as last_seen,
    arg_min(batch_id, seen_at) as first_batch_id, arg_max(batch_id, seen_at) as last_batch_id,
    count(distinct identify_id) as records
from identities
where trait is not null
group by all;

-- Identify records among a batch's valid rows (added after the first release).
alter table ingest_batches add column if not exists rows_identify bigint default 0;
