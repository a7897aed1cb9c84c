with source_rows as (

    select * from {{ ref('stg_crm__tickets') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

final as (

    select
        source_rows.ticket_id,
        xref.customer_id,
        source_rows.opened_at,
        source_rows.closed_at,
        source_rows.channel,
        source_rows.category,
        source_rows.satisfaction
    from source_rows
    left join xref
        on xref.record_key = {{ record_key('crm', 'members', 'source_rows.member_id') }}

)

select * from final
