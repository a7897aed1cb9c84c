{{ config(**keyed_incremental(['source_system', 'order_id'])) }}

-- depends_on: {{ ref('stg_ecommerce__refunds') }} (read by orders_of_changed_refunds, incremental only)

-- incremental: every line of the orders int_sales__orders holds with a newer load than this
-- model (a header, a line or a refund), of the orders a changed refund named, and of the orders
-- whose customer is no longer the one built (a merge, a split), is joined again
-- (docs/operations.md#incremental-runs); fct_order_lines publishes it without its watermark
with orders as (

    select * from {{ ref('int_sales__orders') }}

),

{% if is_incremental() -%}
    changed_orders as (

        select
            source_system,
            order_id
        from orders
        where {{ newer_than_built('_loaded_at') }}

        union

        {{ orders_of_changed_refunds() }}

        union

        -- line by line: grouping the built lines per order first costs more than the join
        select distinct
            built.source_system,
            built.order_id
        from {{ this }} as built
        inner join orders
            on
                built.source_system = orders.source_system
                and built.order_id = orders.order_id
        where built.customer_id is distinct from orders.customer_id

    ),

{% endif -%}
lines as (

    select order_lines.* from {{ ref('int_sales__order_lines') }} as order_lines
    {{ of_changed_orders('order_lines.order_id', 'order_lines.source_system') }}

),

final as (

    select
        {{ dbt.concat([
            "lines.order_id", "':'", "cast(lines.line_no as " ~ dbt.type_string() ~ ")"
        ]) }} as order_line_id,
        lines.source_system,
        lines.order_id,
        lines.line_no,
        orders.customer_id,
        orders.channel,
        orders.store_id,
        orders.order_date,
        lines.sku,
        lines.product_name,
        lines.category,
        lines.quantity,
        lines.unit_price,
        lines.gross_amount,
        lines.discount_amount,
        lines.line_refund_amount,
        cast(lines.gross_amount - lines.discount_amount - lines.line_refund_amount as decimal(18, 2))
            as net_amount,
        orders.is_cancelled,
        orders._loaded_at
    from lines
    inner join orders
        on
            lines.source_system = orders.source_system
            and lines.order_id = orders.order_id

)

select * from final
