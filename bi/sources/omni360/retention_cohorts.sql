-- retention by monthly acquisition cohort and channel (cohorts whose 30 days are complete)
select
    date_trunc('month', cohort_date) as cohort_month,
    acquisition_channel,
    sum(cohort_customers) as cohort_customers,
    sum(retained_d7) / sum(cohort_customers) as retention_d7,
    sum(retained_d30) / sum(cohort_customers) as retention_d30
from marts.rpt_retention_cohorts
where is_d30_complete
group by all
order by cohort_month, acquisition_channel
