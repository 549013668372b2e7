-- Per-project daily usage (UTC days of receipt), for billing and quota: every stored
-- event, whether it came through the HTTP sink or from a file, by its project (projectId,
-- set by the sink or resolved from the record's projectKey at ingest; a key of no
-- configured project is stored, and counted, as its fingerprint), beside what the sink
-- itself accepted.
create or replace view project_daily_usage as
with stored as (
    select coalesce(project_id, project_key) as project_id,
        cast(coalesce(edge_received_at, received_at) as date) as day,
        count(*)::bigint as events,
        count(*) filter (edge_batch_id is not null)::bigint as http_events,
        count(*) filter (edge_batch_id is null)::bigint as file_events
    from events
    group by all
),
sink as (
    select project_id, cast(received_at as date) as day, count(*)::bigint as requests,
        sum(events)::bigint as sink_events, sum(body_bytes)::bigint as body_bytes
    from sink_batches
    group by all
)
select project_id, day,
    coalesce(s.events, 0)::bigint as events,
    coalesce(s.http_events, 0)::bigint as http_events,
    coalesce(s.file_events, 0)::bigint as file_events,
    coalesce(k.requests, 0)::bigint as requests,
    coalesce(k.sink_events, 0)::bigint as sink_events,
    coalesce(k.body_bytes, 0)::bigint as body_bytes
from stored s
full join sink k using (project_id, day);

-- A record's projectKey is a key: only its fingerprint is stored (ingest.client_ip). Rows
-- loaded before that rule keep no key either (a no-op once done).
update events set project_key = 'sha256:' || left(sha256(project_key), 16)
where project_key is not null and project_key <> '[redacted-key]'
  and not starts_with(project_key, 'sha256:');
update identities set project_key = 'sha256:' || left(sha256(project_key), 16)
where project_key is not null and project_key <> '[redacted-key]'
  and not starts_with(project_key, 'sha256:');
