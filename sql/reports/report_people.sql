-- One row per stitched person of report_events: first touch, sign-up (their first
-- Acquisition-stage event), first revenue (first purchase-family event with a value),
-- first-touch channel and referrer host, and their latest plan.
with firsts as (
    select person,
        min(ts) as first_touch_at,
        min(ts) filter (where stage = 'Acquisition') as signed_up_at,
        min(ts) filter (where family = 'purchase' and value > 0) as first_revenue_at,
        arg_min(channel, ts) as channel,
        arg_min(referrer_host, ts) as referrer_host,
        arg_max(plan, ts) filter (where plan is not null) as plan
    from report_events
    where person is not null
    group by all
)

select * from firsts
