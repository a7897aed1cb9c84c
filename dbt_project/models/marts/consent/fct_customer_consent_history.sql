-- a view: int_customer__consent_history is the incremental table it publishes, without its
-- watermarks
{{ config(materialized='view') }}

with history as (

    select * from {{ ref('int_customer__consent_history') }}

),

final as (

    select
        customer_id,
        purpose,
        spell_number,
        status,
        previous_status,
        valid_from,
        valid_to,
        is_current,
        started_by_consent_id,
        started_channel,
        policy_version,
        consent_events,
        last_recorded_at
    from history

)

select * from final
