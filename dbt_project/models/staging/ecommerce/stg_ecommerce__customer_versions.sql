with source as (

    select * from {{ source('ecommerce', 'customers') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='account_id, updated_at',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        account_id,
        updated_at,
        name,
        phone,
        email,
        _source_file,
        _line_no,
        _loaded_at
    from deduplicated

)

select * from final
