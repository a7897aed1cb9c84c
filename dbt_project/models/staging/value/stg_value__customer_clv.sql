with source as (

    select * from {{ source('value', 'customer_clv') }}

),

final as (

    select
        customer_id,
        frequency,
        recency_days,
        tenure_days,
        monetary_value,
        probability_alive,
        predicted_purchases_365d,
        expected_spend_per_purchase,
        predicted_clv_365d,
        clv_method
    from source

)

select * from final
