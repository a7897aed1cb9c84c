with activity as (

    select * from {{ ref('int_customer__source_activity') }}

),

engagement as (

    select * from {{ ref('stg_social__engagement') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

engagement_by_customer as (

    select
        xref.customer_id,
        min(engagement.occurred_at) as first_engaged_at,
        max(engagement.occurred_at) as last_engaged_at,
        count(*) as engagement_events
    from engagement
    inner join xref
        on xref.record_key = {{ record_key('social', 'accounts', 'engagement.app_id', 'engagement.openid') }}
    group by xref.customer_id

),

channels as (

    select
        customer_id,
        min(case when channel = 'crm' then first_seen_at end) as crm_first_seen_at,
        max(case when channel = 'crm' then last_seen_at end) as crm_last_seen_at,
        min(case when channel = 'ecommerce' then first_seen_at end) as ecommerce_first_seen_at,
        max(case when channel = 'ecommerce' then last_seen_at end) as ecommerce_last_seen_at,
        min(case when channel = 'pos' then first_seen_at end) as pos_first_seen_at,
        max(case when channel = 'pos' then last_seen_at end) as pos_last_seen_at,
        min(case when channel = 'social' then first_seen_at end) as social_first_seen_at,
        max(case when channel = 'social' then last_seen_at end) as social_last_seen_at,
        coalesce(bool_or(channel = 'crm'), false) as is_member,
        coalesce(bool_or(platform = 'wechat_oa' and is_active), false) as follows_official_account,
        coalesce(bool_or(platform = 'wecom' and is_active), false) as is_wecom_contact,
        coalesce(bool_or(platform = 'wechat_mp' and is_active), false) as uses_mini_program,
        coalesce(bool_or(platform = 'douyin' and is_active), false) as follows_douyin,
        min(
            case when channel in ('crm', 'social') then first_seen_at end
        ) as first_owned_channel_at
    from activity
    group by customer_id

),

final as (

    select
        channels.*,
        engagement_by_customer.first_engaged_at,
        engagement_by_customer.last_engaged_at,
        coalesce(engagement_by_customer.engagement_events, 0) as engagement_events,
        cast(
            least(
                coalesce(channels.first_owned_channel_at, engagement_by_customer.first_engaged_at),
                coalesce(engagement_by_customer.first_engaged_at, channels.first_owned_channel_at)
            ) as date
        ) as first_engaged_date,
        channels.is_member
        or channels.follows_official_account
        or channels.is_wecom_contact as is_private_domain_reachable
    from channels
    left join engagement_by_customer
        on channels.customer_id = engagement_by_customer.customer_id

)

select * from final
