-- the consents of the profile view's customers (see customers.sql)
with chosen as (
    select customer_id from marts.dim_customer
    order by net_revenue desc nulls last, customer_id
    limit 500
)

select consents.customer_id, consents.purpose, consents.status, consents.decided_at,
    consents.decided_channel
from marts.fct_customer_consents as consents
inner join chosen on consents.customer_id = chosen.customer_id
order by consents.customer_id, consents.purpose
