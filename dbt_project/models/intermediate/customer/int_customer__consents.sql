with events as (

    select * from {{ ref('int_customer__consent_events') }}

),

ranked as (

    -- over all the customer's member records, the most recent event wins; a withdrawal beats a
    -- grant recorded at the same moment
    select
        customer_id,
        purpose,
        status,
        recorded_at,
        consent_id,
        row_number() over (
            partition by customer_id, purpose
            order by
                recorded_at desc,
                case when status = 'withdrawn' then 0 else 1 end asc,
                consent_id desc
        ) as event_rank
    from events
    where customer_id is not null

),

final as (

    select
        customer_id,
        purpose,
        status,
        status = 'granted' as is_granted,
        recorded_at as status_since,
        consent_id as decided_by_consent_id
    from ranked
    where event_rank = 1

)

select * from final
