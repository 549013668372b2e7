-- Funnel events of the window with a stitched person, a company, an acquisition
-- channel and the value in major currency units ($value_unit says what `value` holds) (materialized as the temp table report_events by trackstack_wh.reports.funnel).
--
-- Person: externalId; else the externalId that the same email carries on any event;
-- else the email (trimmed, lower case); else the person known for the same session
-- (so anonymous page views before a sign-up join that person's journey); else none.
with email_links as (
    select lower(trim(email)) as email, min(external_id) as external_id
    from events
    where external_id is not null and email is not null
    group by all
),

identified as (
    select e.session_id,
        coalesce(e.external_id, l.external_id, lower(trim(e.email))) as person
    from events e left join email_links l on l.email = lower(trim(e.email))
    where e.session_id is not null and (e.external_id is not null or e.email is not null)
),

session_people as (
    select session_id, min(person) as person from identified group by all
),

window_events as (
    select * from events
    where ($from_s is null or ts >= to_timestamp($from_s))
        and ($to_s is null or ts < to_timestamp($to_s))
        and stage in ('Awareness', 'Interest', 'Acquisition', 'Activation', 'Revenue')
),

final as (
    select e.event_id, e.event_name, e.stage, c.family, e.ts,
        coalesce(e.external_id, l.external_id, lower(trim(e.email)), s.person) as person,
        nullif(lower(trim(e.company_domain)), '') as company,
        upper(e.currency) as currency, e.plan,
        case when $value_unit = 'minor' then e.value / pow(10, coalesce(cx.exponent, 2))
            else e.value end as value,
        case
            when coalesce(e.gclid, e.gbraid, e.wbraid) is not null then 'google_ads'
            when coalesce(e.fbclid, e.fbc) is not null then 'meta'
            when e.li_fat_id is not null then 'linkedin'
            when e.ttclid is not null then 'tiktok'
            when e.sc_cid is not null then 'snapchat'
            when e.rdt_cid is not null then 'reddit'
            when e.msclkid is not null then 'microsoft_ads'
            when e.twclid is not null then 'x_ads'
            when nullif(trim(e.referrer), '') is not null then 'referral'
            else 'direct'
        end as channel,
        coalesce(
            nullif(regexp_extract(lower(e.referrer), '^[a-z][a-z0-9+.-]*://(?:www\.)?([^/:?#]+)', 1), ''),
            '(direct)'
        ) as referrer_host
    from window_events e
    left join canonical_events c using (event_name)
    left join email_links l on l.email = lower(trim(e.email))
    left join session_people s on s.session_id = e.session_id
    left join currency_exponents cx on cx.code = upper(e.currency)
)

select * from final
