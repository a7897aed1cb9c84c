with customers as (

    select * from {{ ref('dim_customer') }}

),

final as (

    select
        lifecycle_stage,
        lifecycle_stage_zh,
        count(*) as customers,
        count(*) filter (where clv_method = 'bgnbd_gammagamma') as modelled_customers,
        cast(sum(historical_clv) as decimal(18, 2)) as historical_clv,
        cast(avg(historical_clv) as decimal(18, 2)) as average_historical_clv,
        cast(sum(predicted_clv_365d) as decimal(18, 2)) as predicted_clv_365d,
        cast(avg(predicted_clv_365d) as decimal(18, 2)) as average_predicted_clv_365d,
        avg(probability_alive) as average_probability_alive
    from customers
    group by lifecycle_stage, lifecycle_stage_zh

)

select * from final
