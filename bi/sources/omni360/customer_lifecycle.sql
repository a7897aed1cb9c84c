-- the lifecycle history of the profile view's customers (see customers.sql)
with chosen as (
    select customer_id from marts.dim_customer
    order by net_revenue desc nulls last, customer_id
    limit 500
)

select
    history.customer_id,
    history.lifecycle_stage,
    history.valid_from,
    -- text: the current spell has no end (a null date would show as 1970-01-01)
    coalesce(cast(history.valid_to as varchar), '(current)') as valid_to
from marts.fct_customer_lifecycle_history as history
inner join chosen on history.customer_id = chosen.customer_id
order by history.customer_id, history.valid_from
