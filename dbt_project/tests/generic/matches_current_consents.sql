{#-
    Fails for every customer and purpose whose current spell in a consent history (`model`) does
    not have the status of the current state (`current`), or that is in only one of them.
-#}
{% test matches_current_consents(model, current) %}
    with spells as (

        select customer_id, purpose, status from {{ model }}
        where is_current

    ),

    current_state as (

        select customer_id, purpose, status from {{ current }}

    )

    select
        coalesce(spells.customer_id, current_state.customer_id) as customer_id,
        coalesce(spells.purpose, current_state.purpose) as purpose,
        spells.status as history_status,
        current_state.status as current_status
    from spells
    full outer join current_state
        on
            spells.customer_id = current_state.customer_id
            and spells.purpose = current_state.purpose
    where
        spells.customer_id is null
        or current_state.customer_id is null
        or spells.status <> current_state.status
{% endtest %}
