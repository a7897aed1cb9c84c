-- a view: int_sales__order_lines_joined_to_orders is the incremental table it publishes, without
-- its key's source system and its watermark
{{ config(materialized='view') }}

with lines as (

    select * from {{ ref('int_sales__order_lines_joined_to_orders') }}

),

final as (

    select
        order_line_id,
        order_id,
        line_no,
        customer_id,
        channel,
        store_id,
        order_date,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        gross_amount,
        discount_amount,
        line_refund_amount,
        net_amount,
        is_cancelled
    from lines

)

select * from final
