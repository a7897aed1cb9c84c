{{ config(**staged_incrementally('coupon_id')) }}

with source as (

    {{ changed_versions(source('crm', 'coupons'), 'coupon_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='coupon_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        coupon_id,
        member_id,
        campaign,
        face_value,
        issued_at,
        redeemed_at,
        redeemed_ref,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
