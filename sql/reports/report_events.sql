-- Funnel events of the window with their person (the event_people view of
-- sql/ddl/007_people.sql), company, acquisition channel and value in major currency
-- units ($value_unit says what `value` holds). Materialized as the temp table
-- report_events by trackstack_wh.reports.funnel.
with window_events as (
    select * from events
    where ($from_s is null or ts >= to_timestamp($from_s))
        and ($to_s is null or ts < to_timestamp($to_s))
        and stage in ('Awareness', 'Interest', 'Acquisition', 'Activation', 'Revenue')
),

final as (
    select e.event_id, e.event_name, e.stage, c.family, e.ts,
        p.person, nullif(lower(trim(e.company_domain)), '') as company,
        upper(e.currency) as currency, e.plan,
        case when $value_unit = 'minor' then e.value / pow(10, coalesce(cx.exponent, 2))
            else e.value end as value,
        coalesce(
            /* click_source: sql/reports/click_source.sql */ null,
            case when nullif(trim(e.referrer), '') is not null then 'referral' else 'direct' end
        ) as channel,
        coalesce(
            nullif(regexp_extract(lower(e.referrer), '^[a-z][a-z0-9+.-]*://(?:www\.)?([^/:?#]+)', 1), ''),
            '(direct)'
        ) as referrer_host
    from window_events e
    left join canonical_events c using (event_name)
    left join event_people p using (event_id)
    left join currency_exponents cx on cx.code = upper(e.currency)
)

select * from final
