-- customers per lifecycle stage at each monthly snapshot
select snapshot_date, lifecycle_stage, count(*) as customers
from marts.fct_customer_lifecycle_snapshots
group by snapshot_date, lifecycle_stage
order by snapshot_date, lifecycle_stage
