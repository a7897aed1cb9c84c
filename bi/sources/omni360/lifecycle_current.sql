-- customers per current lifecycle stage
select lifecycle_stage, count(*) as customers
from marts.dim_customer
group by lifecycle_stage
order by customers desc
