-- What the platforms made of what we sent (trackstack_wh.delivery.diagnostics): one row
-- per reading (destination, source, scope such as an event name or a request ID, metric),
-- the platform's item as masked JSON in detail; every read-back call in diagnostics_runs.
create table if not exists platform_diagnostics (
    fetched_at timestamptz not null,
    destination varchar not null,
    target varchar not null,
    source varchar not null,
    scope varchar,
    metric varchar not null,
    value double,
    text varchar,
    detail json
);

create table if not exists diagnostics_runs (
    fetched_at timestamptz not null,
    destination varchar not null,
    target varchar not null,
    source varchar not null,
    status varchar not null,             -- ok | failed | skipped
    calls integer not null,
    rows integer not null,
    message varchar
);

-- The latest reading of each (destination, target, source, scope, metric).
create or replace view platform_diagnostics_latest as
select * from platform_diagnostics
qualify row_number() over (
    partition by destination, target, source, scope, metric order by fetched_at desc) = 1;
