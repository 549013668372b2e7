-- Quality per UTC day and event: mean score, low-quality events (score under 4) and
-- events without a strong match key, for events with $from_s <= ts < $to_s.
with scored as (
    select e.event_date, q.event_name, q.score, q.warnings
    from event_quality q
    join events e using (event_id)
    where e.ts >= to_timestamp($from_s) and e.ts < to_timestamp($to_s)
),

final as (
    select event_date as day, event_name,
        count(*)::bigint as events,
        round(avg(score), 2) as mean_score,
        count(*) filter (list_contains(warnings, 'low_quality'))::bigint as low_quality,
        count(*) filter (list_contains(warnings, 'no_strong_match_keys'))::bigint
            as without_strong_keys
    from scored
    group by all
)

select * from final
