{{ config(materialized='view') }}

-- the month ends are kept incrementally, the as-of date's snapshot is built every run
-- (docs/operations.md#incremental-runs)
with month_ends as (

    select * from {{ ref('int_customer__lifecycle_month_ends') }}

),

current_snapshots as (

    select * from {{ ref('int_customer__lifecycle_current') }}

),

final as (

    select
        customer_id,
        snapshot_date,
        orders_to_date,
        orders_in_window,
        last_order_date,
        days_since_last_order,
        is_engaged,
        lifecycle_stage,
        is_current
    from month_ends

    union all

    select
        customer_id,
        snapshot_date,
        orders_to_date,
        orders_in_window,
        last_order_date,
        days_since_last_order,
        is_engaged,
        lifecycle_stage,
        is_current
    from current_snapshots

)

select * from final
