-- the orders of the profile view's customers (see customers.sql)
with chosen as (
    select customer_id from marts.dim_customer
    order by net_revenue desc nulls last, customer_id
    limit 500
)

select
    orders.customer_id,
    orders.order_id,
    orders.order_date,
    orders.channel,
    coalesce(orders.platform, orders.store_id) as platform_or_store,
    orders.status,
    cast(orders.net_revenue as double) as net_revenue
from marts.fct_orders as orders
inner join chosen on orders.customer_id = chosen.customer_id
order by orders.customer_id, orders.order_date
