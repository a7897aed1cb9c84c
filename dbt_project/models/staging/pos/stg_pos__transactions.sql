{{ config(**staged_incrementally('transaction_id')) }}

with source as (

    {{ changed_versions(source('pos', 'transactions'), 'transaction_id') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by='transaction_id',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        transaction_id,
        store_id,
        transacted_at,
        member_card_no,
        phone,
        total_amount,
        payment_method,
        cashier_id,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
