with source as (

    select * from {{ source('ingest', 'load_audit') }}

),

final as (

    select
        {{ dbt.concat([
            'load_id', "':'", 'source', "':'", 'entity', "':'", "coalesce(source_file, '')"
        ]) }} as audit_event_id,
        load_id,
        {{ dbt.safe_cast('audited_at', api.Column.translate_type('timestamp')) }} as audited_at,
        source as source_system,
        entity,
        nullif(source_file, '') as source_file,
        status,
        {{ dbt.safe_cast('rows_read', api.Column.translate_type('bigint')) }} as rows_read,
        {{ dbt.safe_cast('rows_loaded', api.Column.translate_type('bigint')) }} as rows_loaded,
        {{ dbt.safe_cast('rows_quarantined', api.Column.translate_type('bigint')) }} as rows_quarantined,
        {{ dbt.safe_cast('child_rows_loaded', api.Column.translate_type('bigint')) }} as child_rows_loaded,
        rule,
        message,
        duplicate_of
    from source

)

select * from final
