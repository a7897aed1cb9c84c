{#-
    Fails for every row of `model` whose customer has no current grant in `consents`
    (fct_customer_consents) for the purpose: a literal `purpose`, or the row's `purpose_column`.
    With `config: {where: ...}`, only the rows that carry what the consent covers are checked.
-#}
{% test has_current_grant(
    model, consents, purpose=none, purpose_column=none, customer_column='customer_id'
) %}
{%- set wanted = "'" ~ purpose ~ "'" if purpose else 'audience.' ~ purpose_column %}
    with audience as (

        select * from {{ model }}

    ),

    grants as (

        select customer_id, purpose from {{ consents }}
        where is_granted

    )

    select audience.*
    from audience
    left join grants
        on
            audience.{{ customer_column }} = grants.customer_id
            and grants.purpose = {{ wanted }}
    where grants.customer_id is null
{% endtest %}
