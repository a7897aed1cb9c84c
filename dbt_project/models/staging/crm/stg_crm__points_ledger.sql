{{ config(**staged_incrementally('entry_id')) }}

with source as (

    {{ changed_versions(source('crm', 'points_ledger'), 'entry_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='entry_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        entry_id,
        member_id,
        occurred_at,
        points,
        reason,
        reference_id,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
