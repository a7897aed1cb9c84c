with orders as (

    select * from {{ ref('int_sales__orders') }}

),

counted as (

    -- the orders that count for a customer: theirs, not cancelled, by the as-of date
    select * from orders
    where customer_id is not null and not is_cancelled and order_date <= {{ as_of_date() }}

),

first_days as (

    -- the channel of the first order (online, should the first day hold orders in both)
    select
        customer_id,
        min(channel) as first_order_channel
    from counted
    group by customer_id, order_date
    qualify min(order_date) over (partition by customer_id) = order_date

),

totals as (

    select
        customer_id,
        count(*) as orders,
        count(*) filter (where channel = 'online') as online_orders,
        count(*) filter (where channel = 'store') as store_orders,
        sum(net_revenue) as net_revenue,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        min(order_date) as first_order_date,
        count(*) filter (where order_date > {{ as_of_date() }} - 365) as orders_365d,
        coalesce(sum(net_revenue) filter (where order_date > {{ as_of_date() }} - 365), 0)
            as revenue_365d
    from counted
    group by customer_id

),

final as (

    select
        totals.*,
        first_days.first_order_channel
    from totals
    inner join first_days
        on totals.customer_id = first_days.customer_id

)

select * from final
