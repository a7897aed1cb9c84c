{{ config(**staged_incrementally(['app_id', 'openid'])) }}

with source as (

    {{ changed_versions(source('social', 'accounts'), 'app_id, openid') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='app_id, openid',
        order_by='updated_at desc, _loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        app_id,
        platform,
        openid,
        unionid,
        nickname,
        phone,
        followed_at,
        unfollowed_at,
        updated_at,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
