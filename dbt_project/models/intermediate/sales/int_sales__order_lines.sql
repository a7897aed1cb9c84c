{{ config(**keyed_incremental(['source_system', 'order_id'])) }}

-- incremental: every line of the orders given a line, or whose refunds changed, since the last
-- build is computed again (docs/operations.md#incremental-runs)
with
{% if is_incremental() -%}
    changed_orders as (

        select
            'ecommerce' as source_system,
            shop_lines.order_id
        from {{ ref('stg_ecommerce__order_lines') }} as shop_lines
        where {{ newer_than_built('shop_lines._loaded_at', '_loaded_at') }}

        union

        {{ orders_of_changed_refunds() }}

        union

        select
            'pos' as source_system,
            till_lines.transaction_id as order_id
        from {{ ref('stg_pos__transaction_lines') }} as till_lines
        where {{ newer_than_built('till_lines._loaded_at', '_loaded_at') }}

    ),

{% endif -%}
shop_lines as (

    select staged_lines.* from {{ ref('stg_ecommerce__order_lines') }} as staged_lines
    {{ of_changed_orders('staged_lines.order_id', "'ecommerce'") }}

),

till_lines as (

    select staged_lines.* from {{ ref('stg_pos__transaction_lines') }} as staged_lines
    {{ of_changed_orders('staged_lines.transaction_id', "'pos'") }}

),

refunds as (

    select staged_refunds.* from {{ ref('stg_ecommerce__refunds') }} as staged_refunds
    {{ of_changed_orders('staged_refunds.order_id', "'ecommerce'") }}

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
        coalesce(discount, 0) as discount_amount,
        _loaded_at
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
        coalesce(discount, 0) as discount_amount,
        _loaded_at
    from till_lines

),

line_refunds as (

    -- refunds of one line; refunds of a whole order (no line_no) stay at order level
    select
        order_id,
        line_no,
        sum(amount) as refund_amount,
        max(_loaded_at) as _loaded_at
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
        cast(coalesce(line_refunds.refund_amount, 0) as decimal(18, 2)) as line_refund_amount,
        -- the latest load of the line or of its refunds (the incremental watermark; greatest skips
        -- nulls on DuckDB and Spark)
        greatest(unioned._loaded_at, line_refunds._loaded_at) as _loaded_at
    from unioned
    left join line_refunds
        on
            unioned.source_system = 'ecommerce'
            and unioned.order_id = line_refunds.order_id
            and unioned.line_no = line_refunds.line_no

)

select * from final
