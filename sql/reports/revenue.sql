-- Revenue per period and currency in major units: purchases (purchase-family events
-- with a positive value), refunds and chargebacks (subtracted for net revenue), and
-- churned subscriptions. Currencies are never summed into each other.
with money as (
    select date_trunc($period, ts)::date as period, coalesce(currency, '(none)') as currency,
        event_name, family, person, value
    from report_events
    where family in ('purchase', 'refund') or event_name = 'Churned'
),

final as (
    select period, currency,
        count(*) filter (where family = 'purchase' and value > 0)::bigint as purchases,
        count(distinct person) filter (where family = 'purchase' and value > 0)::bigint
            as paying_people,
        coalesce(sum(value) filter (where family = 'purchase' and value > 0), 0)
            as gross_revenue,
        count(*) filter (where event_name = 'Refund')::bigint as refunds,
        coalesce(sum(abs(value)) filter (where event_name = 'Refund'), 0) as refunded,
        count(*) filter (where event_name = 'Chargeback')::bigint as chargebacks,
        coalesce(sum(abs(value)) filter (where event_name = 'Chargeback'), 0)
            as charged_back,
        count(*) filter (where event_name = 'Churned')::bigint as churned,
        coalesce(sum(abs(value)) filter (where event_name = 'Churned'), 0) as churned_value
    from money
    group by all
)

select *, round(gross_revenue - refunded - charged_back, 4) as net_revenue
from final
order by period, currency
