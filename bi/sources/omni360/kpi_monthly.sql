-- KPIs by month and channel ('all' = every channel together)
select
    order_month,
    channel,
    orders,
    cast(gmv as double) as gmv,
    cast(net_revenue as double) as net_revenue,
    cast(average_order_value as double) as average_order_value,
    active_customers,
    new_customers,
    repurchase_rate,
    churned_customers,
    churn_rate,
    private_domain_penetration,
    reachable_with_consent_coverage
from marts.rpt_kpi_monthly
order by order_month, channel
