{{ config(**keyed_incremental(['source_system', 'order_id'])) }}

-- incremental: the orders whose header, lines or refunds were loaded since the last build, or
-- whose customer in the id map is no longer the one built, are computed again
-- (docs/operations.md#incremental-runs)
with all_headers as (

    select
        'ecommerce' as source_system,
        order_id,
        {{ record_key('ecommerce', 'customers', 'account_id') }} as customer_record_key,
        'online' as channel,
        platform,
        pickup_store_id as store_id,
        ordered_at,
        status,
        fulfilment as fulfilment_mode,
        currency,
        shipping_fee,
        coupon_code,
        _loaded_at
    from {{ ref('stg_ecommerce__orders') }}

    union all

    select
        'pos' as source_system,
        transaction_id as order_id,
        {{ record_key('pos', 'transactions', 'transaction_id') }} as customer_record_key,
        'store' as channel,
        'store' as platform,
        store_id,
        transacted_at as ordered_at,
        'completed' as status,
        'in_store' as fulfilment_mode,
        'CNY' as currency,
        cast(0 as decimal(18, 2)) as shipping_fee,
        cast(null as {{ dbt.type_string() }}) as coupon_code,
        _loaded_at
    from {{ ref('stg_pos__transactions') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

{% if is_incremental() -%}
    changed_orders as (

        select
            all_headers.source_system,
            all_headers.order_id
        from all_headers
        where {{ newer_than_built('all_headers._loaded_at', '_loaded_at') }}

        union

        select
            order_lines.source_system,
            order_lines.order_id
        from {{ ref('int_sales__order_lines') }} as order_lines
        where {{ newer_than_built('order_lines._loaded_at', '_loaded_at') }}

        union

        {{ orders_of_changed_refunds() }}

        union

        -- the id map gives the order another customer, or none: a merge, a split, a receipt whose
        -- only identifier became shared by too many records
        select
            built.source_system,
            built.order_id
        from {{ this }} as built
        inner join all_headers
            on
                built.source_system = all_headers.source_system
                and built.order_id = all_headers.order_id
        left join xref
            on all_headers.customer_record_key = xref.record_key
        where built.customer_id is distinct from xref.customer_id

    ),

{% endif -%}
headers as (

    select all_headers.* from all_headers
    {{ of_changed_orders('all_headers.order_id', "all_headers.source_system") }}

),

lines as (

    select order_lines.* from {{ ref('int_sales__order_lines') }} as order_lines
    {{ of_changed_orders('order_lines.order_id', "order_lines.source_system") }}

),

refunds as (

    select staged_refunds.* from {{ ref('stg_ecommerce__refunds') }} as staged_refunds
    {{ of_changed_orders('staged_refunds.order_id', "'ecommerce'") }}

),

line_totals as (

    select
        source_system,
        order_id,
        count(*) as line_count,
        cast(sum(quantity) as bigint) as item_count,
        sum(gross_amount) as gross_amount,
        sum(discount_amount) as discount_amount,
        max(_loaded_at) as _loaded_at
    from lines
    group by source_system, order_id

),

order_refunds as (

    select
        order_id,
        sum(amount) as refund_amount,
        max(refunded_at) as last_refunded_at,
        max(_loaded_at) as _loaded_at
    from refunds
    group by order_id

),

final as (

    select
        headers.order_id,
        headers.source_system,
        headers.channel,
        headers.platform,
        headers.store_id,
        xref.customer_id,
        headers.ordered_at,
        cast(headers.ordered_at as date) as order_date,
        headers.status,
        headers.fulfilment_mode,
        coalesce(line_totals.line_count, 0) as line_count,
        coalesce(line_totals.item_count, 0) as item_count,
        cast(coalesce(line_totals.gross_amount, 0) as decimal(18, 2)) as gross_amount,
        cast(coalesce(line_totals.discount_amount, 0) as decimal(18, 2)) as discount_amount,
        cast(coalesce(order_refunds.refund_amount, 0) as decimal(18, 2)) as refund_amount,
        cast(
            coalesce(line_totals.gross_amount, 0)
            - coalesce(line_totals.discount_amount, 0)
            - coalesce(order_refunds.refund_amount, 0)
            as decimal(18, 2)
        ) as net_amount,
        case
            when headers.status = 'cancelled' then cast(0 as decimal(18, 2))
            else cast(
                coalesce(line_totals.gross_amount, 0)
                - coalesce(line_totals.discount_amount, 0)
                - coalesce(order_refunds.refund_amount, 0)
                as decimal(18, 2)
            )
        end as net_revenue,
        cast(headers.shipping_fee as decimal(18, 2)) as shipping_fee,
        headers.currency,
        headers.status = 'cancelled' as is_cancelled,
        order_refunds.refund_amount is not null as is_refunded,
        headers.coupon_code,
        -- the incremental watermark: the latest load of the header, a line or a refund
        -- (greatest skips nulls on DuckDB and Spark)
        greatest(headers._loaded_at, line_totals._loaded_at, order_refunds._loaded_at)
            as _loaded_at
    from headers
    left join line_totals
        on
            headers.source_system = line_totals.source_system
            and headers.order_id = line_totals.order_id
    left join order_refunds
        on
            headers.source_system = 'ecommerce'
            and headers.order_id = order_refunds.order_id
    left join xref
        on headers.customer_record_key = xref.record_key

)

select * from final
