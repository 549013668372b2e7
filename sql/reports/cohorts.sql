-- Weekly sign-up cohorts (UTC weeks starting Monday): per cohort and week since sign-up,
-- the people active (any funnel event) and paying (a purchase-family event with a value).
with cohort as (
    select person, date_trunc('week', signed_up_at)::date as cohort_week, signed_up_at
    from report_people
    where signed_up_at is not null
),

sizes as (
    select cohort_week, count(*)::bigint as signups from cohort group by all
),

activity as (
    select c.cohort_week, c.person, e.family, e.value,
        (date_diff('day', c.signed_up_at, e.ts) // 7)::integer as weeks_since_signup
    from cohort c join report_events e using (person)
    where e.ts >= c.signed_up_at
),

final as (
    select a.cohort_week, s.signups, a.weeks_since_signup,
        count(distinct a.person)::bigint as active_people,
        count(distinct a.person) filter (where a.family = 'purchase' and a.value > 0)::bigint
            as paying_people
    from activity a join sizes s using (cohort_week)
    group by all
)

select *, active_people / signups as retention
from final
order by cohort_week, weeks_since_signup
