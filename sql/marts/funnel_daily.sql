-- Events, people (the event_people view: externalId, email and session stitched) and
-- companies (companyDomain) per UTC day and stage, for events with $from_s <= ts < $to_s.
with window_events as (
    select e.event_date, e.stage, p.person, lower(e.company_domain) as company, e.value
    from events e left join event_people p using (event_id)
    where e.ts >= to_timestamp($from_s) and e.ts < to_timestamp($to_s)
),

final as (
    select event_date as day, stage,
        count(*)::bigint as events,
        count(distinct person)::bigint as people,
        count(distinct company)::bigint as companies,
        count(value)::bigint as with_value
    from window_events
    group by all
)

select * from final
