{#-
    Order KPIs per period, channel and store (docs/metrics.md#kpis). `period` is a SQL expression
    over fct_orders columns giving the period's first day (order_date for days). Distinct counts
    are computed at each grain, never summed from a finer one.
-#}
{% macro order_kpis(period, period_column) -%}
with orders as (

    select * from {{ ref('fct_orders') }}

),

first_orders as (

    select * from {{ ref('int_customer__orders') }}

),

valid_orders as (

    select
        orders.*,
        cast({{ period }} as date) as period_start,
        coalesce(orders.store_id, 'online') as store_key,
        cast({{ period | replace('order_date', 'first_orders.first_order_date') }} as date)
            as first_order_period
    from orders
    left join first_orders
        on orders.customer_id = first_orders.customer_id
    where not orders.is_cancelled

),

final as (

    select
        period_start as {{ period_column }},
        channel,
        store_key as store_id,
        count(*) as orders,
        count(*) filter (where customer_id is null) as anonymous_orders,
        count(distinct customer_id) as buyers,
        count(distinct case when first_order_period = period_start then customer_id end)
            as new_customers,
        count(distinct case when first_order_period < period_start then customer_id end)
            as returning_buyers,
        cast(sum(gross_amount) as decimal(18, 2)) as gmv,
        cast(sum(discount_amount) as decimal(18, 2)) as discounts,
        cast(sum(refund_amount) as decimal(18, 2)) as refunds,
        cast(sum(net_revenue) as decimal(18, 2)) as net_revenue,
        {{ average_money('sum(net_revenue)', 'count(*)') }} as average_order_value
    from valid_orders
    group by period_start, channel, store_key

)

select * from final
{%- endmacro %}
