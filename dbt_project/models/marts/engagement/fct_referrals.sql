with referrals as (

    select * from {{ ref('stg_social__referrals') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

first_orders as (

    select * from {{ ref('int_customer__orders') }}

),

final as (

    select
        referrals.referral_id,
        referrals.app_id,
        inviters.customer_id as inviter_customer_id,
        invitees.customer_id as invitee_customer_id,
        referrals.invited_at,
        -- the invitee's first order, if it came after the invitation
        case
            when first_orders.first_order_at >= referrals.invited_at then first_orders.first_order_at
        end as invitee_first_order_at
    from referrals
    left join xref as inviters
        on
            inviters.record_key
            = {{ record_key('social', 'accounts', 'referrals.app_id', 'referrals.inviter_openid') }}
    left join xref as invitees
        on
            invitees.record_key
            = {{ record_key('social', 'accounts', 'referrals.app_id', 'referrals.invitee_openid') }}
    left join first_orders
        on invitees.customer_id = first_orders.customer_id

)

select * from final
