-- customer value by lifecycle stage
select
    lifecycle_stage,
    customers,
    modelled_customers,
    cast(historical_clv as double) as historical_clv,
    cast(average_historical_clv as double) as average_historical_clv,
    cast(predicted_clv_365d as double) as predicted_clv_365d,
    cast(average_predicted_clv_365d as double) as average_predicted_clv_365d,
    average_probability_alive
from marts.rpt_clv_by_stage
order by predicted_clv_365d desc
