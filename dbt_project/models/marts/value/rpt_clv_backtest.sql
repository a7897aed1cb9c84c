with backtest as (

    select * from {{ ref('stg_value__clv_backtest') }}

),

final as (

    select * from backtest

)

select * from final
