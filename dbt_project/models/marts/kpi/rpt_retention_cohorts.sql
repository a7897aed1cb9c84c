with orders as (

    select * from {{ ref('fct_orders') }}

),

customer_orders as (

    select * from {{ ref('int_customer__orders') }}

),

cohort_members as (

    -- the acquisition channel is the channel of the customer's first order
    select
        customer_id,
        first_order_date as cohort_date,
        first_order_channel as acquisition_channel
    from customer_orders

),

returns as (

    select
        orders.customer_id,
        min({{ dbt.datediff('cohort_members.cohort_date', 'orders.order_date', 'day') }})
            as first_return_day
    from orders
    inner join cohort_members
        on orders.customer_id = cohort_members.customer_id
    where not orders.is_cancelled and orders.order_date > cohort_members.cohort_date
    group by orders.customer_id

),

final as (

    -- Dn retention: share of the cohort with another order within n days after the first
    select
        cohort_members.cohort_date,
        cohort_members.acquisition_channel,
        count(*) as cohort_customers,
        count(*) filter (where returns.first_return_day <= 1) as retained_d1,
        count(*) filter (where returns.first_return_day <= 7) as retained_d7,
        count(*) filter (where returns.first_return_day <= 30) as retained_d30,
        count(*) filter (where returns.first_return_day <= 1) / count(*) as retention_d1,
        count(*) filter (where returns.first_return_day <= 7) / count(*) as retention_d7,
        count(*) filter (where returns.first_return_day <= 30) / count(*) as retention_d30,
        {{ dbt.datediff('cohort_members.cohort_date', as_of_date(), 'day') }} >= 30
            as is_d30_complete
    from cohort_members
    left join returns
        on cohort_members.customer_id = returns.customer_id
    group by cohort_members.cohort_date, cohort_members.acquisition_channel

)

select * from final
