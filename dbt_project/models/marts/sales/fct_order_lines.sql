with lines as (

    select * from {{ ref('int_sales__order_lines') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

final as (

    select
        {{ dbt.concat([
            "lines.order_id", "':'", "cast(lines.line_no as " ~ dbt.type_string() ~ ")"
        ]) }} as order_line_id,
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
        orders.is_cancelled
    from lines
    inner join orders
        on
            lines.source_system = orders.source_system
            and lines.order_id = orders.order_id

)

select * from final
