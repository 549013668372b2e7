-- HTTP sink batches, from the header line of each batch in a landing segment.
create table if not exists sink_batches (
    batch_id varchar not null,
    ingest_batch_id varchar not null,
    segment varchar not null,
    project_id varchar not null,
    key_kind varchar not null,
    received_at timestamptz not null,
    origin varchar,
    sdk_version varchar,
    client_ip varchar,
    user_agent varchar,
    events bigint not null,
    body_bytes bigint not null,
    context json
);

-- Per-project daily usage (UTC days): what the sink accepted, for billing and quota.
create or replace view sink_daily_usage as
select project_id, cast(received_at as date) as day, count(*) as requests,
    sum(events)::bigint as events, sum(body_bytes)::bigint as body_bytes
from sink_batches
group by all;
