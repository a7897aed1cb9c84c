with orders as (

    select * from {{ ref('int_sales__orders') }}

),

final as (

    select * from orders

)

select * from final
