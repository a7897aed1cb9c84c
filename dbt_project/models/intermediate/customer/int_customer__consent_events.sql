with consents as (

    select * from {{ ref('stg_crm__consents') }}

),

xref as (

    select * from {{ ref('stg_identity__customer_xref') }}

),

final as (

    -- a consent is given by a member record; it belongs to the customer that record resolved to,
    -- so the events of all the customer's member records come together here
    select
        xref.customer_id,
        consents.consent_id,
        consents.member_id,
        consents.purpose,
        consents.status,
        consents.channel,
        consents.recorded_at,
        consents.policy_version
    from consents
    inner join xref
        on xref.record_key = {{ dbt.concat(["'crm:members:'", "consents.member_id"]) }}

)

select * from final
