with orders as (

    select * from {{ ref('fct_orders') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

customer_orders as (

    select * from {{ ref('int_customer__orders') }}

),

snapshots as (

    select * from {{ ref('fct_customer_lifecycle_snapshots') }}

),

channels as (

    select * from {{ ref('int_customer__channels') }}

),

referrals as (

    select * from {{ ref('fct_referrals') }}

),

valid_orders as (

    select
        orders.customer_id,
        orders.channel,
        orders.order_date,
        orders.gross_amount,
        orders.net_revenue,
        cast({{ dbt.date_trunc('month', 'orders.order_date') }} as date) as order_month,
        customer_orders.first_order_date
    from orders
    left join customer_orders
        on orders.customer_id = customer_orders.customer_id
    where not orders.is_cancelled

),

by_channel as (

    -- every channel, and 'all' for the whole business
    select
        *,
        channel as kpi_channel
    from valid_orders
    union all
    select
        *,
        'all' as kpi_channel
    from valid_orders

),

buyers as (

    select
        by_channel.order_month,
        by_channel.kpi_channel,
        by_channel.customer_id,
        count(*) as orders,
        min(by_channel.first_order_date) as first_order_date
    from by_channel
    where by_channel.customer_id is not null
    group by by_channel.order_month, by_channel.kpi_channel, by_channel.customer_id

),

buyer_kpis as (

    select
        buyers.order_month,
        buyers.kpi_channel,
        count(*) as active_customers,
        count(*) filter (
            where cast({{ dbt.date_trunc('month', 'buyers.first_order_date') }} as date) = buyers.order_month
        ) as new_customers,
        count(*) filter (where buyers.orders >= 2) as repurchasing_customers,
        count(*) filter (
            where cast({{ dbt.date_trunc('month', 'buyers.first_order_date') }} as date) = buyers.order_month
            and buyers.orders >= 2
        ) as new_repurchasing_customers,
        count(*) filter (where customers.is_private_domain_reachable) as reachable_buyers,
        count(*) filter (where customers.has_marketing_consent) as consented_buyers
    from buyers
    left join customers
        on buyers.customer_id = customers.customer_id
    group by buyers.order_month, buyers.kpi_channel

),

money as (

    select
        order_month,
        kpi_channel,
        count(*) as orders,
        cast(sum(gross_amount) as decimal(18, 2)) as gmv,
        cast(sum(net_revenue) as decimal(18, 2)) as net_revenue
    from by_channel
    group by order_month, kpi_channel

),

churn as (

    -- a customer churns in the month their stage becomes 'churned', among those who were buyers
    -- (first purchase, repurchase or loyal) at the previous snapshot
    select
        cast({{ dbt.date_trunc('month', 'snapshot_date') }} as date) as order_month,
        count(*) filter (
            where lifecycle_stage = 'churned' and previous_stage in ('first_purchase', 'repurchase', 'loyal')
        )
            as churned_customers,
        count(*) filter (where previous_stage in ('first_purchase', 'repurchase', 'loyal'))
            as customers_at_risk_of_churn
    from (
        select
            snapshot_date,
            lifecycle_stage,
            lag(lifecycle_stage) over (partition by customer_id order by snapshot_date) as previous_stage
        from snapshots
    ) as stage_changes
    group by cast({{ dbt.date_trunc('month', 'snapshot_date') }} as date)

),

engagement_conversion as (

    -- customers first engaged in the month, and those whose first order followed within 30 days
    select
        cast({{ dbt.date_trunc('month', 'channels.first_engaged_date') }} as date) as order_month,
        count(*) as newly_engaged_customers,
        count(*) filter (
            where customers.first_order_at is not null
            and cast(customers.first_order_at as date) >= channels.first_engaged_date
            and {{ dbt.datediff('channels.first_engaged_date', 'cast(customers.first_order_at as date)', 'day') }} <= 30
        ) as converted_within_30d
    from channels
    inner join customers
        on channels.customer_id = customers.customer_id
    where channels.first_engaged_date is not null
    group by cast({{ dbt.date_trunc('month', 'channels.first_engaged_date') }} as date)

),

referral_conversion as (

    select
        cast({{ dbt.date_trunc('month', 'invited_at') }} as date) as order_month,
        count(*) as referrals,
        count(*) filter (where invitee_first_order_at is not null) as converted_referrals
    from referrals
    group by cast({{ dbt.date_trunc('month', 'invited_at') }} as date)

),

final as (

    select
        money.order_month,
        money.kpi_channel as channel,
        money.orders,
        money.gmv,
        money.net_revenue,
        {{ average_money('money.net_revenue', 'money.orders') }} as average_order_value,
        buyer_kpis.active_customers,
        buyer_kpis.new_customers,
        buyer_kpis.active_customers - buyer_kpis.new_customers as existing_customers,
        buyer_kpis.repurchasing_customers / nullif(buyer_kpis.active_customers, 0) as repurchase_rate,
        buyer_kpis.new_repurchasing_customers / nullif(buyer_kpis.new_customers, 0)
            as new_customer_repurchase_rate,
        (buyer_kpis.repurchasing_customers - buyer_kpis.new_repurchasing_customers)
        / nullif(buyer_kpis.active_customers - buyer_kpis.new_customers, 0)
            as existing_customer_repurchase_rate,
        buyer_kpis.reachable_buyers / nullif(buyer_kpis.active_customers, 0)
            as private_domain_penetration,
        buyer_kpis.consented_buyers / nullif(buyer_kpis.active_customers, 0)
            as reachable_with_consent_coverage,
        case when money.kpi_channel = 'all' then churn.churned_customers end as churned_customers,
        case
            when money.kpi_channel = 'all'
                then churn.churned_customers / nullif(churn.customers_at_risk_of_churn, 0)
        end as churn_rate,
        case
            when money.kpi_channel = 'all'
                then
                    engagement_conversion.converted_within_30d
                    / nullif(engagement_conversion.newly_engaged_customers, 0)
        end as engagement_to_first_order_rate,
        case
            when money.kpi_channel = 'all'
                then referral_conversion.converted_referrals / nullif(referral_conversion.referrals, 0)
        end as referral_conversion_rate
    from money
    left join buyer_kpis
        on money.order_month = buyer_kpis.order_month and money.kpi_channel = buyer_kpis.kpi_channel
    left join churn
        on money.order_month = churn.order_month
    left join engagement_conversion
        on money.order_month = engagement_conversion.order_month
    left join referral_conversion
        on money.order_month = referral_conversion.order_month

)

select * from final
