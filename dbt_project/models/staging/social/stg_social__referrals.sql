{{ config(**staged_incrementally('referral_id')) }}

with source as (

    {{ changed_versions(source('social', 'referrals'), 'referral_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='referral_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        referral_id,
        app_id,
        inviter_openid,
        invitee_openid,
        invited_at,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
