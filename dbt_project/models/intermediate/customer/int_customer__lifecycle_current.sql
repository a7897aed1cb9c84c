-- Every customer's lifecycle snapshot on the as-of date, and a fingerprint of everything their
-- month-end snapshots are computed from besides the month end itself:
-- int_customer__lifecycle_month_ends builds those again only for the customers whose
-- fingerprint changed (docs/operations.md#incremental-runs)
with orders as (

    select * from {{ ref('int_sales__orders') }}

),

golden_records as (

    select * from {{ ref('int_identity__golden_records') }}

),

channels as (

    select * from {{ ref('int_customer__channels') }}

),

orders_per_day as (

    {{ orders_per_customer_day('orders') }}

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

    -- every customer has a stage on the as-of date, even one first seen after it
    select
        customer_id,
        {{ as_of_date() }} as snapshot_date,
        first_engaged_date <= {{ as_of_date() }} as is_engaged
    from customers

),

snapshots as (

    {{ lifecycle_snapshot_rows('customer_dates', 'orders_per_day') }}

),

order_fingerprints as (

    -- order-independent: one 64-bit hash per order day, combined
    select
        customer_id,
        bit_xor(hash(order_date, orders)) as orders_hash
    from orders_per_day
    group by customer_id

),

final as (

    select
        snapshots.*,
        customers.first_seen_date,
        customers.first_engaged_date,
        hash(
            customers.first_seen_date,
            customers.first_engaged_date,
            order_fingerprints.orders_hash,
            -- the stage rules: other vars rebuild every customer's month ends
            '{{ var("lifecycle_churn_days") }}/{{ var("lifecycle_loyal_min_orders") }}/'
            || '{{ var("lifecycle_loyal_window_days") }}/{{ var("lifecycle_loyal_recency_days") }}'
        ) as _inputs_hash
    from snapshots
    inner join customers
        on snapshots.customer_id = customers.customer_id
    left join order_fingerprints
        on snapshots.customer_id = order_fingerprints.customer_id

)

select * from final
