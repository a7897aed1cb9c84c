{{ config(**keyed_incremental(
    ['customer_id'],
    post_hook="delete from {{ this }} where customer_id not in (select customer_id from {{ ref('int_customer__consent_events') }} where customer_id is not null)",
)) }}

-- incremental: the whole history of each customer given a consent event since the last build,
-- or whose member records identity resolution wrote again (a merge or a split gathers or parts
-- their events); the post-hook removes customers left without events (merged away, or whose
-- consenting member moved to another customer) (docs/operations.md#incremental-runs).
-- fct_customer_consent_history publishes it without its watermarks
with all_events as (

    select * from {{ ref('int_customer__consent_events') }}
    where customer_id is not null

),

{% if is_incremental() -%}
    changed_customers as (

        select distinct all_events.customer_id
        from all_events
        where
            {{ newer_than_built('all_events._loaded_at', '_loaded_at') }}
            or {{ newer_than_built('all_events._resolved_at', '_resolved_at') }}

    ),

{% endif -%}
events as (

    select all_events.* from all_events
    {%- if is_incremental() %}
        where all_events.customer_id in (
            select changed_customers.customer_id from changed_customers
        )
    {%- endif %}

),

ranked_at_instant as (

    -- the rule of int_customer__consents at every instant: a withdrawal beats a grant recorded
    -- at the same moment, over all the customer's member records
    select
        customer_id,
        purpose,
        recorded_at,
        status,
        consent_id,
        channel,
        policy_version,
        row_number() over (
            partition by customer_id, purpose, recorded_at
            order by case when status = 'withdrawn' then 0 else 1 end asc, consent_id desc
        ) as rank_at_instant,
        count(*) over (partition by customer_id, purpose, recorded_at) as events_at_instant
    from events

),

instants as (

    select * from ranked_at_instant
    where rank_at_instant = 1

),

changes as (

    select
        *,
        lag(status) over (partition by customer_id, purpose order by recorded_at) as previous_status
    from instants

),

flagged as (

    -- a spell starts at the first event and at every change of status; a repeated grant (or
    -- withdrawal) continues its spell
    select
        *,
        case
            when previous_status is null or previous_status <> status then 1 else 0
        end as starts_spell
    from changes

),

numbered as (

    select
        *,
        cast(sum(starts_spell) over (
            partition by customer_id, purpose
            order by recorded_at
            rows between unbounded preceding and current row
        ) as integer) as spell_number
    from flagged

),

spell_events as (

    select
        customer_id,
        purpose,
        spell_number,
        cast(sum(events_at_instant) as bigint) as consent_events,
        max(recorded_at) as last_recorded_at
    from numbered
    group by customer_id, purpose, spell_number

),

spells as (

    select
        customer_id,
        purpose,
        spell_number,
        status,
        previous_status,
        recorded_at as valid_from,
        lead(recorded_at) over (partition by customer_id, purpose order by recorded_at) as valid_to,
        consent_id as started_by_consent_id,
        channel as started_channel,
        policy_version
    from numbered
    where starts_spell = 1

),

watermarks as (

    select
        customer_id,
        max(_loaded_at) as _loaded_at,
        max(_resolved_at) as _resolved_at
    from events
    group by customer_id

),

final as (

    select
        spells.customer_id,
        spells.purpose,
        spells.spell_number,
        spells.status,
        spells.previous_status,
        spells.valid_from,
        spells.valid_to,
        spells.valid_to is null as is_current,
        spells.started_by_consent_id,
        spells.started_channel,
        spells.policy_version,
        spell_events.consent_events,
        spell_events.last_recorded_at,
        -- the incremental watermarks: the newest load and resolution of the customer's events
        watermarks._loaded_at,
        watermarks._resolved_at
    from spells
    inner join spell_events
        on
            spells.customer_id = spell_events.customer_id
            and spells.purpose = spell_events.purpose
            and spells.spell_number = spell_events.spell_number
    inner join watermarks
        on spells.customer_id = watermarks.customer_id

)

select * from final
