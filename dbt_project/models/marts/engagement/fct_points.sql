with source_rows as (

    select * from {{ ref('stg_crm__points_ledger') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

final as (

    select
        source_rows.entry_id,
        xref.customer_id,
        source_rows.occurred_at,
        source_rows.points,
        source_rows.reason,
        source_rows.reference_id
    from source_rows
    left join xref
        on xref.record_key = {{ record_key('crm', 'members', 'source_rows.member_id') }}

)

select * from final
