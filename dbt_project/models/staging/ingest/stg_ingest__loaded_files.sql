{#- a table, not a view: the as-of date of every mart (macro as_of_date) and its tests read it,
    and as a view each read parses every manifest file of the lake (about 1 s at 5,000 files) -#}
{{ config(materialized='table') }}

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
