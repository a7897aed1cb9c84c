with consents as (

    select * from {{ ref('stg_crm__consents') }}

),

xref as (

    select * from {{ ref('stg_identity__customer_xref') }}

),

events as (

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

),

final as (

    -- over all the customer's member records, the most recent event wins; a withdrawal beats a
    -- grant recorded at the same moment
    select
        customer_id,
        purpose,
        status,
        recorded_at as status_since,
        consent_id as decided_by_consent_id
    from events
    qualify row_number() over (
        partition by customer_id, purpose
        order by recorded_at desc, case when status = 'withdrawn' then 0 else 1 end asc, consent_id desc
    ) = 1

)

select * from final
