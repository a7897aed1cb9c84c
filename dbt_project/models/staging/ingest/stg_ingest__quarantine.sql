with source as (

    select * from {{ source('ingest', 'quarantine') }}

),

final as (

    select
        {{ dbt.concat([
            'source', "':'", 'entity', "':'", 'source_file', "':'", 'line_no'
        ]) }} as quarantine_id,
        source as source_system,
        entity,
        source_file,
        line_no,
        record_key,
        rule,
        column_name,
        reason,
        raw_content,
        load_id,
        quarantined_at
    from source

)

select * from final
