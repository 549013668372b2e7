-- Quality beside deliveries (trackstack_wh/delivery/quality_snapshot.py): each attempt
-- carries its event's event_quality score and warnings (with the payload row's own
-- warnings) as they were when the push started; NULL on rows logged before.
alter table delivery_log add column if not exists quality_score double;
alter table delivery_log add column if not exists quality_warnings varchar[];

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
