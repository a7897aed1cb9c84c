with source as (

    select * from {{ source('identity', 'customer_xref') }}

),

final as (

    select
        record_key,
        source_system,
        entity,
        source_record_id,
        record_kind,
        customer_id,
        is_linkable,
        resolved_at
    from source

)

select * from final
