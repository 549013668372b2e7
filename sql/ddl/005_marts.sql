-- Daily report tables (one row per UTC day and key), rebuilt per day by
-- trackstack_wh.marts: delete the days, insert them again, in one transaction.
create table if not exists funnel_daily (
    day date not null,
    stage varchar not null,
    events bigint not null,
    people bigint not null,
    companies bigint not null,
    with_value bigint not null,
    primary key (day, stage)
);

create table if not exists quality_daily (
    day date not null,
    event_name varchar not null,
    events bigint not null,
    mean_score double,
    low_quality bigint not null,
    without_strong_keys bigint not null,
    primary key (day, event_name)
);

create table if not exists reconciliation_daily (
    day date not null,
    destination varchar not null,
    rows bigint not null,
    delivered bigint not null,
    rejected bigint not null,
    failed bigint not null,
    in_flight bigint not null,
    never_attempted bigint not null,
    skipped bigint not null,
    duplicate bigint not null,
    not_built bigint not null,
    aged_out bigint not null default 0,
    superseded bigint not null default 0,
    awaiting_retry bigint not null default 0,
    primary key (day, destination)
);
alter table reconciliation_daily add column if not exists aged_out bigint default 0;
alter table reconciliation_daily add column if not exists superseded bigint default 0;
alter table reconciliation_daily add column if not exists awaiting_retry bigint default 0;
