-- Events, people and companies reaching each funnel stage per period (and segment),
-- with the ratio of people at a stage to people at the previous stage (and at
-- Awareness) in the same period: not a conversion rate (the people differ, so it can
-- exceed 1); ordered conversion is trackstack_wh.funnels (wh.conversion_funnel). A person's segment is
-- their first-touch channel or referrer host, or their latest plan; an event without a
-- person takes its own. $whole = true gives one row per stage for the whole window.
-- Losses (Refund, Chargeback, Churned) do not count as reaching Revenue: see revenue.sql.
with tagged as (
    select
        case when $whole then null::date else date_trunc($period, e.ts)::date end as period,
        case $by
            when 'channel' then coalesce(p.channel, e.channel)
            when 'referrer' then coalesce(p.referrer_host, e.referrer_host)
            when 'plan' then coalesce(p.plan, e.plan, '(none)')
        end as segment,
        e.stage, e.person, e.company
    from report_events e left join report_people p using (person)
    where e.family is distinct from 'refund' and e.event_name <> 'Churned'
),

counts as (
    select period, segment, stage,
        count(*)::bigint as events,
        count(distinct person)::bigint as people,
        count(distinct company)::bigint as companies
    from tagged
    group by all
),

stages(stage_order, stage) as (
    values (1, 'Awareness'), (2, 'Interest'), (3, 'Acquisition'), (4, 'Activation'),
        (5, 'Revenue')
),

grid as (
    select k.period, k.segment, s.stage_order, s.stage
    from (select distinct period, segment from counts) k cross join stages s
),

final as (
    select g.period, g.segment, g.stage_order, g.stage,
        coalesce(c.events, 0) as events,
        coalesce(c.people, 0) as people,
        coalesce(c.companies, 0) as companies,
        coalesce(c.people, 0) / nullif(lag(coalesce(c.people, 0)) over w, 0)
            as ratio_to_previous_stage,
        coalesce(c.people, 0) / nullif(first_value(coalesce(c.people, 0)) over w, 0)
            as ratio_to_awareness
    from grid g left join counts c
        on c.period is not distinct from g.period
        and c.segment is not distinct from g.segment
        and c.stage = g.stage
    window w as (partition by g.period, g.segment order by g.stage_order)
)

select * from final order by period, segment, stage_order
