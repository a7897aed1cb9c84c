with consents as (

    select * from {{ ref('fct_customer_consents') }}

),

customers as (

    select * from {{ ref('dim_customer') }}

),

accounts as (

    select * from {{ ref('stg_social__accounts') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

grants as (

    -- a current grant of a marketing purpose, and the channel it allows
    select
        customer_id,
        purpose,
        case purpose
            when 'marketing_sms' then 'sms'
            when 'marketing_wechat' then 'wechat'
            when 'marketing_email' then 'email'
        end as channel,
        decided_at as granted_at,
        decided_by_consent_id
    from consents
    where is_granted and purpose in ('marketing_sms', 'marketing_wechat', 'marketing_email')

),

wechat_followers as (

    -- a WeChat push goes to an official-account follower: the account followed now (the most
    -- recently followed, should the customer follow several of the brand's official accounts)
    select
        xref.customer_id,
        accounts.app_id,
        {{ pii_token('openid', 'accounts.openid') }} as openid_token,
        row_number() over (
            partition by xref.customer_id
            order by accounts.followed_at desc, accounts.app_id asc
        ) as follow_rank
    from accounts
    inner join xref
        on xref.record_key = {{ record_key('social', 'accounts', 'accounts.app_id', 'accounts.openid') }}
    where accounts.platform = 'wechat_oa' and accounts.unfollowed_at is null

),

recipients as (

    select
        grants.customer_id,
        grants.channel,
        grants.purpose,
        grants.granted_at,
        grants.decided_by_consent_id,
        case grants.channel
            when 'sms' then 'phone'
            when 'email' then 'email'
            when 'wechat' then 'openid'
        end as token_kind,
        case grants.channel
            when 'sms' then customers.phone_token
            when 'email' then customers.email_token
            when 'wechat' then wechat_followers.openid_token
        end as recipient_token,
        case when grants.channel = 'wechat' then wechat_followers.app_id end as wechat_app_id,
        customers.lifecycle_stage,
        customers.member_tier,
        customers.rfm_segment
    from grants
    inner join customers
        on grants.customer_id = customers.customer_id
    left join wechat_followers
        on grants.customer_id = wechat_followers.customer_id and wechat_followers.follow_rank = 1

),

final as (

    -- a grant without a way to reach the customer on that channel exports nothing
    select * from recipients
    where recipient_token is not null

)

select * from final
