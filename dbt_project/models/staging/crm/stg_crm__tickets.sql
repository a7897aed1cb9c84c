{{ config(**staged_incrementally('ticket_id')) }}

with source as (

    {{ changed_versions(source('crm', 'tickets'), 'ticket_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='ticket_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        ticket_id,
        member_id,
        phone,
        opened_at,
        closed_at,
        channel,
        category,
        satisfaction,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
