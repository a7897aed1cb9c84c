with snapshots as (

    select * from {{ ref('fct_customer_lifecycle_snapshots') }}

),

changes as (

    select
        customer_id,
        snapshot_date,
        lifecycle_stage,
        lag(lifecycle_stage) over (partition by customer_id order by snapshot_date) as previous_stage
    from snapshots

),

spell_starts as (

    select
        customer_id,
        snapshot_date as valid_from,
        lifecycle_stage,
        previous_stage
    from changes
    where previous_stage is null or previous_stage <> lifecycle_stage

),

final as (

    select
        {{ dbt.concat(["customer_id", "':'", "cast(valid_from as " ~ dbt.type_string() ~ ")"]) }} as lifecycle_spell_id,
        customer_id,
        lifecycle_stage,
        {{ lifecycle_stage_zh('lifecycle_stage') }} as lifecycle_stage_zh,
        previous_stage,
        valid_from,
        lead(valid_from) over (partition by customer_id order by valid_from) as valid_to,
        lead(valid_from) over (partition by customer_id order by valid_from) is null as is_current
    from spell_starts

)

select * from final
