-- per purpose: customers who granted, who refused or withdrew, and for whom nothing was ever
-- recorded (no row in fct_customer_consents)
with customers as (
    select count(*) as customers from marts.dim_customer
),

recorded as (
    select
        purpose,
        count(*) filter (where is_granted) as granted,
        count(*) filter (where not is_granted) as refused_or_withdrawn
    from marts.fct_customer_consents
    group by purpose
)

select
    recorded.purpose,
    recorded.granted,
    recorded.refused_or_withdrawn,
    customers.customers - recorded.granted - recorded.refused_or_withdrawn as never_recorded,
    recorded.granted / customers.customers as granted_share
from recorded
cross join customers
order by recorded.purpose
