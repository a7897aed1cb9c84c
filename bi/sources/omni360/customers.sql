-- the customers the profile view offers: the 500 with the highest net revenue (every row here is
-- shipped to the browser). Personal data as published: masked or tokenised.
select
    customer_id,
    customer_id || ' · ' || coalesce(display_name, '?') || ' · ' || coalesce(city, '') as label,
    display_name,
    phone_masked,
    email_masked,
    gender,
    age_band,
    city,
    member_tier,
    lifecycle_stage,
    lifecycle_stage_since,
    orders,
    online_orders,
    store_orders,
    cast(net_revenue as double) as net_revenue,
    cast(predicted_clv_365d as double) as predicted_clv_365d,
    probability_alive,
    first_order_at,
    last_order_at,
    is_member,
    follows_official_account,
    is_wecom_contact,
    uses_mini_program,
    follows_douyin,
    has_marketing_consent
from marts.dim_customer
order by net_revenue desc nulls last, customer_id
limit 500
