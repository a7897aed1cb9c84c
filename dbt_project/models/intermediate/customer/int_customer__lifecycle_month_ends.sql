{{ config(**keyed_incremental(
    ['customer_id', 'snapshot_date'],
    post_hook="delete from {{ this }} where (customer_id, _inputs_hash) not in (select customer_id, _inputs_hash from {{ ref('int_customer__lifecycle_current') }}) or snapshot_date not in ({{ lifecycle_month_ends(ref('int_sales__orders')) }})",
)) }}

-- incremental: every month end of the customers whose fingerprint in
-- int_customer__lifecycle_current differs from the one their rows were built with (a new or
-- changed order, first seen or engaged date, a merge or a split, other stage rules), and a month
-- end new to the table for everyone else; the post-hook removes the rows of customers that are
-- gone or changed, and of month ends that are no longer one (docs/operations.md#incremental-runs)
with orders as (

    select * from {{ ref('int_sales__orders') }}

),

current_snapshots as (

    select * from {{ ref('int_customer__lifecycle_current') }}

),

month_ends as (

    {{ lifecycle_month_ends('orders') }}

),

{% if is_incremental() -%}
    built_month_ends as (

        select distinct snapshot_date from {{ this }}

    ),

    unchanged as (

        -- the customers whose rows were built with the fingerprint they have now, read at the
        -- latest month end built alone (not every month's rows): a customer built has a row
        -- there, and all of a customer's rows carry the fingerprint they were built with
        select built.customer_id
        from {{ this }} as built
        inner join current_snapshots
            on
                built.customer_id = current_snapshots.customer_id
                and built._inputs_hash = current_snapshots._inputs_hash
        where built.snapshot_date = (
            select max(built_month_ends.snapshot_date) from built_month_ends
        )

    ),

    new_month_ends as (

        select month_ends.snapshot_date from month_ends
        where month_ends.snapshot_date not in (
            select built_month_ends.snapshot_date from built_month_ends
        )

    ),

{% endif -%}
customer_month_ends as (

    -- the month ends to build for each customer: all of them, or (in an increment) only the new
    -- ones when the customer's rows were built with the fingerprint they have now. The two parts
    -- are joined apart, so that no customer is paired with every month end only to drop the pairs
    select
        current_snapshots.customer_id,
        current_snapshots.first_engaged_date,
        current_snapshots._inputs_hash,
        month_ends.snapshot_date
    from current_snapshots
    inner join month_ends
        on current_snapshots.first_seen_date <= month_ends.snapshot_date
    {% if is_incremental() -%}
        where current_snapshots.customer_id not in (select unchanged.customer_id from unchanged)

        union all

        select
            current_snapshots.customer_id,
            current_snapshots.first_engaged_date,
            current_snapshots._inputs_hash,
            new_month_ends.snapshot_date
        from current_snapshots
        inner join new_month_ends
            on current_snapshots.first_seen_date <= new_month_ends.snapshot_date
        where current_snapshots.customer_id in (select unchanged.customer_id from unchanged)
    {%- endif %}

),

customer_dates as (

    select
        customer_id,
        snapshot_date,
        first_engaged_date <= snapshot_date as is_engaged
    from customer_month_ends

),

customer_orders as (

    -- the orders of the customers whose month ends are built (in an increment, a few)
    select orders.* from orders
    where orders.customer_id in (select customer_month_ends.customer_id from customer_month_ends)

),

orders_per_day as (

    {{ orders_per_customer_day('customer_orders') }}

),

snapshots as (

    {{ lifecycle_snapshot_rows('customer_dates', 'orders_per_day') }}

),

final as (

    select
        snapshots.*,
        customer_month_ends._inputs_hash
    from snapshots
    inner join customer_month_ends
        on
            snapshots.customer_id = customer_month_ends.customer_id
            and snapshots.snapshot_date = customer_month_ends.snapshot_date

)

select * from final
