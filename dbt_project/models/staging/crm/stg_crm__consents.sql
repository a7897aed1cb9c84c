{{ config(**staged_incrementally('consent_id')) }}

with source as (

    {{ changed_versions(source('crm', 'consents'), 'consent_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='consent_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        consent_id,
        member_id,
        channel,
        purpose,
        status,
        recorded_at,
        policy_version,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
