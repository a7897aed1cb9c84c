with consents as (

    select * from {{ ref('int_customer__consents') }}

),

final as (

    -- one column per purpose: granted now (a customer with no event for it: false)
    select
        customer_id,
        {%- for purpose in ['marketing_sms', 'marketing_wechat', 'marketing_email', 'personalisation', 'analytics'] %}
            coalesce(bool_or(purpose = '{{ purpose }}' and is_granted), false) as consent_{{ purpose }},
        {%- endfor %}
        coalesce(
            bool_or(
                purpose in ('marketing_sms', 'marketing_wechat', 'marketing_email') and is_granted
            ),
            false
        ) as has_marketing_consent
    from consents
    group by customer_id

)

select * from final
