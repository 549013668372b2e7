-- Delivery: one row per HTTP request, one row per event per attempt, and the latest
-- state of every (destination, request kind, event, mode).

create table if not exists delivery_requests (
    request_id varchar not null,
    run_id varchar not null,
    destination varchar not null,
    request_kind varchar not null,
    mode varchar not null,               -- live | test (test_event_code) | validate (validate-only)
    target varchar,                      -- live (the configured endpoints) | emulator | a URL prefix
    sent_at timestamptz not null,
    rows integer not null,
    bytes bigint not null,
    latency_ms double,
    http_status integer,                 -- null when no response came back (timeout, dropped)
    error_class varchar,                 -- set when the whole request failed
    error_code varchar,
    platform_accepted bigint,            -- e.g. Meta events_received
    trace_id varchar                     -- e.g. Meta fbtrace_id, TikTok request_id
);

create table if not exists delivery_log (
    attempt_id varchar not null,
    request_id varchar,                  -- null for rows decided without a request
    run_id varchar not null,
    destination varchar not null,
    request_kind varchar not null,
    event_id varchar not null,
    mode varchar not null,
    target varchar,                      -- where it went: live | emulator | a URL prefix
    attempt integer not null,            -- 1, 2, ... per (destination, kind, event, mode)
    sent_at timestamptz not null,
    latency_ms double,
    http_status integer,
    outcome varchar not null,            -- delivered | rejected | superseded | retry_scheduled |
                                         -- failed | dry_run
    error_class varchar,                 -- retryable | rate_limited | auth | config | too_old |
                                         -- bad_identifier | permanent | batch_rejected
    error_code varchar,
    error_message varchar,
    trace_id varchar,
    retry_at timestamptz                 -- failed rows: when a later run may send again
);

-- Files from before targets were recorded: where those rows went cannot be known (no URL
-- was stored), so they count as 'unrecorded', never as live deliveries (README, Delivery).
alter table delivery_requests add column if not exists target varchar;
alter table delivery_log add column if not exists target varchar;
alter table delivery_log add column if not exists retry_at timestamptz;
-- Quality beside deliveries (trackstack_wh/delivery/quality_snapshot.py): each attempt
-- carries its event's event_quality score and warnings (with the payload row's own
-- warnings) as they were when the push started; NULL on rows logged before.
alter table delivery_log add column if not exists quality_score double;
alter table delivery_log add column if not exists quality_warnings varchar[];
update delivery_requests set target = 'unrecorded' where target is null;
update delivery_log set target = 'unrecorded' where target is null;

create or replace view delivery_status as
select destination, request_kind, event_id, mode, target,
    arg_max_null(outcome, attempt) as outcome,
    arg_max_null(error_class, attempt) as error_class,
    arg_max_null(error_code, attempt) as error_code,
    arg_max_null(error_message, attempt) as error_message,
    max(attempt) as attempts,
    min(sent_at) as first_sent_at,
    max(sent_at) as last_sent_at,
    arg_max_null(quality_score, attempt) as quality_score,
    arg_max_null(quality_warnings, attempt) as quality_warnings
from delivery_log
group by all;
