with shop_lines as (

    select * from {{ ref('stg_ecommerce__order_lines') }}

),

till_lines as (

    select * from {{ ref('stg_pos__transaction_lines') }}

),

refunds as (

    select * from {{ ref('stg_ecommerce__refunds') }}

),

unioned as (

    select
        'ecommerce' as source_system,
        order_id,
        line_no,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        coalesce(discount, 0) as discount_amount
    from shop_lines

    union all

    select
        'pos' as source_system,
        transaction_id as order_id,
        line_no,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        coalesce(discount, 0) as discount_amount
    from till_lines

),

line_refunds as (

    -- refunds of one line; refunds of a whole order (no line_no) stay at order level
    select
        order_id,
        line_no,
        sum(amount) as refund_amount
    from refunds
    where line_no is not null
    group by order_id, line_no

),

final as (

    select
        unioned.source_system,
        unioned.order_id,
        unioned.line_no,
        unioned.sku,
        unioned.product_name,
        unioned.category,
        unioned.quantity,
        unioned.unit_price,
        cast(unioned.quantity * unioned.unit_price as decimal(18, 2)) as gross_amount,
        cast(unioned.discount_amount as decimal(18, 2)) as discount_amount,
        cast(coalesce(line_refunds.refund_amount, 0) as decimal(18, 2)) as line_refund_amount
    from unioned
    left join line_refunds
        on
            unioned.source_system = 'ecommerce'
            and unioned.order_id = line_refunds.order_id
            and unioned.line_no = line_refunds.line_no

)

select * from final
