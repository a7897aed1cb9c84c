{{ config(**staged_incrementally('order_id')) }}

with source as (

    {{ changed_versions(source('ecommerce', 'orders'), 'order_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='order_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        order_id,
        account_id,
        platform,
        ordered_at,
        status,
        fulfilment,
        pickup_store_id,
        currency,
        shipping_fee,
        coupon_code,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
