{{ config(**staged_incrementally('member_id')) }}

with source as (

    {{ changed_versions(source('crm', 'members'), 'member_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='member_id',
        order_by='updated_at desc, _loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        member_id,
        card_no,
        name,
        gender,
        birth_date,
        phone,
        email,
        national_id,
        address,
        city,
        province,
        postal_code,
        registered_at,
        home_store_id,
        tier,
        updated_at,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
