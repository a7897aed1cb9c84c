with xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

members as (

    select * from {{ ref('stg_crm__members') }}

),

shop_accounts as (

    select * from {{ ref('stg_ecommerce__customers') }}

),

social_accounts as (

    select * from {{ ref('stg_social__accounts') }}

),

receipts as (

    select * from {{ ref('stg_pos__transactions') }}

),

activity as (

    select
        {{ record_key('crm', 'members', 'member_id') }} as record_key,
        'crm' as channel,
        'crm' as app_id,
        'crm' as platform,
        registered_at as first_seen_at,
        updated_at as last_seen_at,
        true as is_active
    from members

    union all

    select
        {{ record_key('ecommerce', 'customers', 'account_id') }} as record_key,
        'ecommerce' as channel,
        platform as app_id,
        platform,
        created_at as first_seen_at,
        updated_at as last_seen_at,
        true as is_active
    from shop_accounts

    union all

    select
        {{ record_key('social', 'accounts', 'app_id', 'openid') }} as record_key,
        'social' as channel,
        app_id,
        platform,
        followed_at as first_seen_at,
        coalesce(unfollowed_at, updated_at) as last_seen_at,
        unfollowed_at is null as is_active
    from social_accounts

    union all

    select
        {{ record_key('pos', 'transactions', 'transaction_id') }} as record_key,
        'pos' as channel,
        store_id as app_id,
        'store' as platform,
        transacted_at as first_seen_at,
        transacted_at as last_seen_at,
        true as is_active
    from receipts

),

final as (

    select
        xref.customer_id,
        activity.record_key,
        activity.channel,
        activity.app_id,
        activity.platform,
        activity.first_seen_at,
        activity.last_seen_at,
        activity.is_active
    from activity
    inner join xref
        on activity.record_key = xref.record_key

)

select * from final
