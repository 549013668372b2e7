-- Per event name: events, mean and 10th-percentile score, and the share of events
-- missing each identity signal that platforms match on.
select q.event_name, q.stage, count(*)::bigint as events,
    round(avg(q.score), 2) as mean_score,
    round(quantile_cont(q.score, 0.1), 2) as p10_score,
    round(avg((q.components.email = 0)::int), 4) as missing_email,
    round(avg((q.components.phone = 0)::int), 4) as missing_phone,
    round(avg((q.components.external_id = 0)::int), 4) as missing_external_id,
    round(avg((q.components.click_id = 0)::int), 4) as missing_click_id,
    round(avg((q.components.ip_user_agent = 0)::int), 4) as missing_ip_user_agent,
    round(avg((q.components.name_location = 0)::int), 4) as missing_name_location
from event_quality q join events e using (event_id)
where ($from_s is null or e.ts >= to_timestamp($from_s))
    and ($to_s is null or e.ts < to_timestamp($to_s))
group by all
order by events desc, q.event_name
