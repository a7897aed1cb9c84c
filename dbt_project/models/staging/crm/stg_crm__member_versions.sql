with source as (

    select * from {{ source('crm', 'members') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='member_id, updated_at',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        member_id,
        updated_at,
        card_no,
        name,
        birth_date,
        phone,
        email,
        national_id,
        _source_file,
        _line_no,
        _loaded_at
    from deduplicated

)

select * from final
