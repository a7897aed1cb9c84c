with backtest as (

    select * from {{ source('value', 'clv_backtest') }}

),

final as (

    select
        decile,
        is_total,
        customers,
        predicted_purchases,
        actual_purchases,
        predicted_spend,
        actual_spend,
        purchases_mae,
        spend_mae,
        purchases_error_pct,
        spend_error_pct
    from backtest

)

select * from final
