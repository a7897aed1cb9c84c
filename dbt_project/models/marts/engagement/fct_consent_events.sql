with events as (

    select * from {{ ref('int_customer__consent_events') }}

),

final as (

    select
        consent_id,
        customer_id,
        purpose,
        status,
        channel,
        recorded_at,
        cast(recorded_at as date) as recorded_date,
        policy_version
    from events

)

select * from final
