-- a view: int_sales__orders is the incremental table it publishes, without its watermarks
{{ config(materialized='view') }}

with orders as (

    select * from {{ ref('int_sales__orders') }}

),

final as (

    select
        order_id,
        source_system,
        channel,
        platform,
        store_id,
        customer_id,
        ordered_at,
        order_date,
        status,
        fulfilment_mode,
        line_count,
        item_count,
        gross_amount,
        discount_amount,
        refund_amount,
        net_amount,
        net_revenue,
        shipping_fee,
        currency,
        is_cancelled,
        is_refunded,
        coupon_code
    from orders

)

select * from final
