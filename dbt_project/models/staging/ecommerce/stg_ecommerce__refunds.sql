{{ config(**staged_incrementally('refund_id')) }}

with source as (

    {{ changed_versions(source('ecommerce', 'refunds'), 'refund_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='refund_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        refund_id,
        order_id,
        line_no,
        refunded_at,
        amount,
        reason,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
