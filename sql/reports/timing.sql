-- Per period of sign-up: sign-ups, the median time from a person's first touch to their
-- sign-up (first Acquisition-stage event), and from sign-up to their first revenue.
with signed_up as (
    select date_trunc($period, signed_up_at)::date as period,
        epoch(signed_up_at - first_touch_at) / 3600.0 as hours_to_signup,
        case when first_revenue_at >= signed_up_at
            then epoch(first_revenue_at - signed_up_at) / 86400.0 end as days_to_revenue
    from report_people
    where signed_up_at is not null
),

final as (
    select period,
        count(*)::bigint as signups,
        median(hours_to_signup) as median_hours_first_touch_to_signup,
        count(days_to_revenue)::bigint as reached_revenue,
        median(days_to_revenue) as median_days_signup_to_revenue
    from signed_up
    group by all
)

select * from final order by period
