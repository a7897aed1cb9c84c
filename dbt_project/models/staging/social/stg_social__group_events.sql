{{ config(**staged_incrementally('event_id')) }}

with source as (

    {{ changed_versions(source('social', 'group_events'), 'event_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='event_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        event_id,
        group_id,
        app_id,
        openid,
        action,
        occurred_at,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
