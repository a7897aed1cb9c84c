{{ config(**keyed_incremental(
    'customer_id',
    post_hook="delete from {{ this }} where (customer_id, _inputs_hash) not in (select customer_id, _inputs_hash from {{ ref('int_customer__lifecycle_current') }})",
)) }}

-- incremental: only the customers whose fingerprint in int_customer__lifecycle_current differs
-- from the one their rows were built with (a new or changed order, first seen or engaged date,
-- a merge or a split; a new month end or other stage rules change everyone's); the post-hook
-- removes the rows of customers that are gone or changed to no month end at all
-- (docs/operations.md#incremental-runs)
with orders as (

    select * from {{ ref('int_sales__orders') }}

),

current_snapshots as (

    select * from {{ ref('int_customer__lifecycle_current') }}

),

{% if is_incremental() -%}
    built as (

        select distinct
            customer_id,
            _inputs_hash
        from {{ this }}

    ),

{% endif -%}
customers as (

    select
        current_snapshots.customer_id,
        current_snapshots.first_seen_date,
        current_snapshots.first_engaged_date,
        current_snapshots._inputs_hash
    from current_snapshots
    {% if is_incremental() -%}
        left join built
            on
                current_snapshots.customer_id = built.customer_id
                and current_snapshots._inputs_hash = built._inputs_hash
        where built.customer_id is null
    {%- endif %}

),

orders_per_day as (

    {{ orders_per_customer_day('orders') }}

),

changed_orders_per_day as (

    select orders_per_day.*
    from orders_per_day
    inner join customers
        on orders_per_day.customer_id = customers.customer_id

),

month_ends as (

    {{ lifecycle_month_ends('orders') }}

),

customer_dates as (

    select
        customers.customer_id,
        month_ends.snapshot_date,
        customers.first_engaged_date <= month_ends.snapshot_date as is_engaged
    from customers
    inner join month_ends
        on customers.first_seen_date <= month_ends.snapshot_date

),

snapshots as (

    {{ lifecycle_snapshot_rows('customer_dates', 'changed_orders_per_day') }}

),

final as (

    select
        snapshots.*,
        customers._inputs_hash
    from snapshots
    inner join customers
        on snapshots.customer_id = customers.customer_id

)

select * from final
