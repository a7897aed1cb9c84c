with source_rows as (

    select * from {{ ref('stg_crm__coupons') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

final as (

    select
        source_rows.coupon_id,
        xref.customer_id,
        source_rows.campaign,
        source_rows.face_value,
        source_rows.issued_at,
        source_rows.redeemed_at,
        source_rows.redeemed_ref
    from source_rows
    left join xref
        on xref.record_key = {{ record_key('crm', 'members', 'source_rows.member_id') }}

)

select * from final
