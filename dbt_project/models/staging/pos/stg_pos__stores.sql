with source as (

    select * from {{ source('pos', 'stores') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='store_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        store_id,
        store_name,
        city,
        region,
        opened_on as opened_date,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
