{{ config(**staged_incrementally('account_id')) }}

with source as (

    {{ changed_versions(source('ecommerce', 'customers'), 'account_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='account_id',
        order_by='updated_at desc, _loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        account_id,
        platform,
        phone,
        email,
        name,
        shipping_address,
        city,
        province,
        created_at,
        updated_at,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
