with orders as (

    select * from {{ ref('fct_orders') }}

),

customer_orders as (

    select
        customer_id,
        order_date,
        channel,
        min(order_date) over (partition by customer_id) as first_order_date
    from orders
    where customer_id is not null and not is_cancelled

),

cohort_members as (

    -- the acquisition channel is the channel of the customer's first order
    select
        customer_id,
        first_order_date as cohort_date,
        min(channel) as acquisition_channel
    from customer_orders
    where order_date = first_order_date
    group by customer_id, first_order_date

),

returns as (

    select
        customer_id,
        min({{ dbt.datediff('first_order_date', 'order_date', 'day') }}) as first_return_day
    from customer_orders
    where order_date > first_order_date
    group by customer_id

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
