with consents as (

    select * from {{ ref('int_customer__consents') }}

),

events as (

    select * from {{ ref('int_customer__consent_events') }}
    where customer_id is not null

),

event_counts as (

    select
        customer_id,
        purpose,
        count(*) as consent_events,
        count(distinct member_id) as member_records,
        min(recorded_at) as first_recorded_at
    from events
    group by customer_id, purpose

),

final as (

    -- the state int_customer__consents resolved, with where and under which policy it was decided
    select
        consents.customer_id,
        consents.purpose,
        consents.status,
        consents.is_granted,
        consents.status_since as decided_at,
        consents.decided_by_consent_id,
        deciding.channel as decided_channel,
        deciding.policy_version,
        event_counts.first_recorded_at,
        event_counts.consent_events,
        event_counts.member_records
    from consents
    inner join events as deciding
        on consents.decided_by_consent_id = deciding.consent_id
    inner join event_counts
        on
            consents.customer_id = event_counts.customer_id
            and consents.purpose = event_counts.purpose

)

select * from final
