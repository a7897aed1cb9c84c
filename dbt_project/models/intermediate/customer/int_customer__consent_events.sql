with consents as (

    select * from {{ ref('stg_crm__consents') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

final as (

    -- a consent is given by a member record; it belongs to the customer that record resolved to,
    -- so the events of all the customer's member records come together here. Every event is
    -- kept: one of a member not resolved (yet) has no customer
    select
        xref.customer_id,
        consents.consent_id,
        consents.member_id,
        consents.purpose,
        consents.status,
        consents.channel,
        consents.recorded_at,
        consents.policy_version,
        -- what int_customer__consent_history's increments compare with its watermarks
        consents._loaded_at,
        xref.resolved_at as _resolved_at
    from consents
    left join xref
        on xref.record_key = {{ record_key('crm', 'members', 'consents.member_id') }}

)

select * from final
