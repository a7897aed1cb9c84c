with source as (

    select * from {{ source('ecommerce', 'order_lines') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='order_id, line_no',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        order_id,
        line_no,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        discount,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
