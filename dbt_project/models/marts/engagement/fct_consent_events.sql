with consents as (

    select * from {{ ref('stg_crm__consents') }}

),

xref as (

    select * from {{ ref('stg_identity__customer_xref') }}

),

final as (

    select
        consents.consent_id,
        xref.customer_id,
        consents.purpose,
        consents.status,
        consents.channel,
        consents.recorded_at,
        cast(consents.recorded_at as date) as recorded_date,
        consents.policy_version
    from consents
    left join xref
        on xref.record_key = {{ dbt.concat(["'crm:members:'", "consents.member_id"]) }}

)

select * from final
