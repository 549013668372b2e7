-- Events, people (externalId, else email) and companies (companyDomain) per UTC day and
-- funnel stage, for events with $from_s <= ts < $to_s.
with window_events as (
    select event_date, stage, coalesce(external_id, lower(trim(email))) as person,
        lower(company_domain) as company, value
    from events
    where ts >= to_timestamp($from_s) and ts < to_timestamp($to_s)
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
