with golden_records as (

    select * from {{ ref('int_identity__golden_records') }}

),

channels as (

    select * from {{ ref('int_customer__channels') }}

),

consent_flags as (

    select * from {{ ref('int_customer__consent_grants') }}

),

order_stats as (

    select * from {{ ref('int_customer__orders') }}

),

customer_value as (

    select * from {{ source('value', 'customer_clv') }}

),

lifecycle as (

    select * from {{ ref('fct_customer_lifecycle_history') }}

),

rfm_scores as (

    -- quintiles by cumulative distribution: ties get the same score (docs/metrics.md#rfm)
    select
        customer_id,
        cast(ceil(cume_dist() over (
            order by {{ dbt.datediff('cast(last_order_at as date)', as_of_date(), 'day') }} desc
        ) * 5) as integer) as recency_score,
        cast(ceil(cume_dist() over (order by orders asc) * 5) as integer) as frequency_score,
        cast(ceil(cume_dist() over (order by net_revenue asc) * 5) as integer) as monetary_score
    from order_stats

),

ages as (

    select
        customer_id,
        floor({{ dbt.datediff('birth_date', as_of_date(), 'day') }} / 365.25) as years
    from golden_records

),

current_stage as (

    select
        customer_id,
        lifecycle_stage,
        lifecycle_stage_zh,
        valid_from as lifecycle_stage_since
    from lifecycle
    where is_current

),

customer_360 as (

    select
        golden_records.customer_id,
        {{ mask_name('golden_records.customer_name') }} as display_name,
        {{ mask_phone('golden_records.phone') }} as phone_masked,
        {{ mask_email('golden_records.email') }} as email_masked,
        {{ pii_token('phone', 'golden_records.phone') }} as phone_token,
        {{ pii_token('email', 'golden_records.email') }} as email_token,
        golden_records.gender,
        case
            when golden_records.birth_date is null then null
            when age.years < 25 then '18-24'
            when age.years < 35 then '25-34'
            when age.years < 45 then '35-44'
            when age.years < 55 then '45-54'
            else '55+'
        end as age_band,
        golden_records.city,
        golden_records.source_records,
        golden_records.first_seen_at,
        golden_records.last_seen_at,
        channels.crm_first_seen_at,
        channels.crm_last_seen_at,
        channels.ecommerce_first_seen_at,
        channels.ecommerce_last_seen_at,
        channels.pos_first_seen_at,
        channels.pos_last_seen_at,
        channels.social_first_seen_at,
        channels.social_last_seen_at,
        coalesce(channels.is_member, false) as is_member,
        coalesce(channels.follows_official_account, false) as follows_official_account,
        coalesce(channels.is_wecom_contact, false) as is_wecom_contact,
        coalesce(channels.uses_mini_program, false) as uses_mini_program,
        coalesce(channels.follows_douyin, false) as follows_douyin,
        coalesce(channels.is_private_domain_reachable, false) as is_private_domain_reachable,
        coalesce(order_stats.orders, 0) as orders,
        coalesce(order_stats.online_orders, 0) as online_orders,
        coalesce(order_stats.store_orders, 0) as store_orders,
        cast(coalesce(order_stats.net_revenue, 0) as decimal(18, 2)) as net_revenue,
        {{ average_money('order_stats.net_revenue', 'order_stats.orders') }} as average_order_value,
        order_stats.first_order_at,
        order_stats.last_order_at,
        cast(
            {{ dbt.datediff('cast(order_stats.last_order_at as date)', as_of_date(), 'day') }}
            as bigint
        ) as days_since_last_order,
        coalesce(order_stats.orders_365d, 0) as orders_365d,
        cast(coalesce(order_stats.revenue_365d, 0) as decimal(18, 2)) as revenue_365d,
        rfm_scores.recency_score,
        rfm_scores.frequency_score,
        rfm_scores.monetary_score,
        case
            when rfm_scores.customer_id is null then null
            when
                rfm_scores.recency_score >= 4 and rfm_scores.frequency_score >= 4
                and rfm_scores.monetary_score >= 4 then 'champions'
            when rfm_scores.frequency_score >= 4 then 'loyal'
            when rfm_scores.recency_score >= 4 and order_stats.orders = 1 then 'new_customers'
            when rfm_scores.recency_score >= 4 then 'potential_loyalists'
            when rfm_scores.recency_score <= 2 and rfm_scores.frequency_score >= 3 then 'at_risk'
            when rfm_scores.recency_score <= 2 then 'hibernating'
            else 'need_attention'
        end as rfm_segment,
        case
            when coalesce(channels.is_member, false)
                then {{ member_tier('coalesce(order_stats.revenue_365d, 0)', 'coalesce(order_stats.orders_365d, 0)') }}
        end as member_tier,
        current_stage.lifecycle_stage,
        current_stage.lifecycle_stage_zh,
        current_stage.lifecycle_stage_since,
        cast(coalesce(order_stats.net_revenue, 0) as decimal(18, 2)) as historical_clv,
        customer_value.probability_alive,
        1 - customer_value.probability_alive as churn_probability,
        customer_value.predicted_purchases_365d,
        cast(customer_value.predicted_clv_365d as decimal(18, 2)) as predicted_clv_365d,
        customer_value.clv_method,
        coalesce(consent_flags.consent_marketing_sms, false) as consent_marketing_sms,
        coalesce(consent_flags.consent_marketing_wechat, false) as consent_marketing_wechat,
        coalesce(consent_flags.consent_marketing_email, false) as consent_marketing_email,
        coalesce(consent_flags.consent_personalisation, false) as consent_personalisation,
        coalesce(consent_flags.consent_analytics, false) as consent_analytics,
        coalesce(consent_flags.has_marketing_consent, false) as has_marketing_consent,
        -- behavioural features only with analytics consent (docs/compliance.md)
        case
            when coalesce(consent_flags.consent_analytics, false) then channels.engagement_events
        end as engagement_events,
        case
            when coalesce(consent_flags.consent_analytics, false) then channels.last_engaged_at
        end as last_engaged_at
    from golden_records
    left join channels
        on golden_records.customer_id = channels.customer_id
    left join order_stats
        on golden_records.customer_id = order_stats.customer_id
    left join rfm_scores
        on golden_records.customer_id = rfm_scores.customer_id
    left join consent_flags
        on golden_records.customer_id = consent_flags.customer_id
    left join current_stage
        on golden_records.customer_id = current_stage.customer_id
    left join customer_value
        on golden_records.customer_id = customer_value.customer_id
    left join ages as age
        on golden_records.customer_id = age.customer_id

),

final as (

    select
        *,
        -- tags for audience building, comma-separated (docs/metrics.md#tags)
        concat_ws(
            ',',
            'stage:' || lifecycle_stage,
            'rfm:' || rfm_segment,
            'tier:' || member_tier,
            case when is_private_domain_reachable then 'private_domain' end,
            case when has_marketing_consent then 'marketing_consent' end,
            case when online_orders > 0 and store_orders > 0 then 'omnichannel_buyer' end,
            case when monetary_score = 5 then 'top_spender' end
        ) as tags
    from customer_360

)

select * from final
