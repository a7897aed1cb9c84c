with orders as (

    select * from {{ ref('fct_orders') }}

),

golden_records as (

    select * from {{ ref('int_identity__golden_records') }}

),

channels as (

    select * from {{ ref('int_customer__channels') }}

),

snapshot_dates as (

    -- month ends observed in the data, then the as-of date itself
    select distinct cast({{ dbt.last_day('order_date', 'month') }} as date) as snapshot_date
    from orders
    where cast({{ dbt.last_day('order_date', 'month') }} as date) < {{ as_of_date() }}

    union all

    select {{ as_of_date() }} as snapshot_date

),

orders_per_day as (

    select
        customer_id,
        order_date,
        count(*) as orders
    from orders
    where customer_id is not null and not is_cancelled
    group by customer_id, order_date

),

customers as (

    select
        golden_records.customer_id,
        cast(golden_records.first_seen_at as date) as first_seen_date,
        channels.first_engaged_date
    from golden_records
    left join channels
        on golden_records.customer_id = channels.customer_id

),

customer_dates as (

    select
        customers.customer_id,
        snapshot_dates.snapshot_date,
        customers.first_engaged_date <= snapshot_dates.snapshot_date as is_engaged
    from customers
    inner join snapshot_dates
        -- every customer has a stage on the as-of date, even one first seen after it
        on
            customers.first_seen_date <= snapshot_dates.snapshot_date
            or snapshot_dates.snapshot_date = {{ as_of_date() }}

),

order_history as (

    select
        customer_dates.customer_id,
        customer_dates.snapshot_date,
        cast(sum(orders_per_day.orders) as bigint) as orders_to_date,
        cast(sum(
            case
                when
                    orders_per_day.order_date
                    > customer_dates.snapshot_date - {{ var('lifecycle_loyal_window_days') }}
                    then orders_per_day.orders
                else 0
            end
        ) as bigint) as orders_in_window,
        max(orders_per_day.order_date) as last_order_date
    from customer_dates
    inner join orders_per_day
        on
            customer_dates.customer_id = orders_per_day.customer_id
            and customer_dates.snapshot_date >= orders_per_day.order_date
    group by customer_dates.customer_id, customer_dates.snapshot_date

),

final as (

    select
        customer_dates.customer_id,
        customer_dates.snapshot_date,
        coalesce(order_history.orders_to_date, 0) as orders_to_date,
        coalesce(order_history.orders_in_window, 0) as orders_in_window,
        order_history.last_order_date,
        cast(
            {{ dbt.datediff('order_history.last_order_date', 'customer_dates.snapshot_date', 'day') }}
            as bigint
        ) as days_since_last_order,
        coalesce(customer_dates.is_engaged, false) as is_engaged,
        {{ lifecycle_stage(
            'order_history.orders_to_date',
            'order_history.orders_in_window',
            dbt.datediff('order_history.last_order_date', 'customer_dates.snapshot_date', 'day'),
            'coalesce(customer_dates.is_engaged, false)'
        ) }} as lifecycle_stage,
        customer_dates.snapshot_date = {{ as_of_date() }} as is_current
    from customer_dates
    left join order_history
        on
            customer_dates.customer_id = order_history.customer_id
            and customer_dates.snapshot_date = order_history.snapshot_date

)

select * from final
