with source as (

    select * from {{ source('ingest', 'loaded_files') }}

),

final as (

    select
        file_id,
        source_file,
        source as source_system,
        entity,
        delivery_date,
        status,
        load_id,
        loaded_at,
        rows_read,
        rows_loaded,
        rows_quarantined,
        coalesce(rows_suppressed, 0) + coalesce(rows_erased, 0) as rows_erased,
        withdrawn_at
    from source

)

select * from final
