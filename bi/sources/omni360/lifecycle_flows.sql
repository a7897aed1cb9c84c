-- moves between lifecycle stages (a customer's first stage comes from 'new customer')
select
    coalesce(previous_stage, '(first stage)') as from_stage,
    lifecycle_stage as to_stage,
    count(*) as moves
from marts.fct_customer_lifecycle_history
group by all
order by moves desc
