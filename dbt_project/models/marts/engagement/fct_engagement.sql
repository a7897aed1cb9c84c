with engagement as (

    select * from {{ ref('stg_social__engagement') }}

),

accounts as (

    select * from {{ ref('stg_social__accounts') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}

),

grants as (

    select * from {{ ref('int_customer__consent_grants') }}

),

final as (

    -- behavioural data: events of customers without a current analytics grant are withheld
    select
        engagement.event_id,
        xref.customer_id,
        engagement.app_id,
        accounts.platform,
        engagement.event_type,
        engagement.occurred_at,
        cast(engagement.occurred_at as date) as event_date,
        engagement.content_id,
        engagement.duration_seconds
    from engagement
    inner join xref
        on xref.record_key = {{ record_key('social', 'accounts', 'engagement.app_id', 'engagement.openid') }}
    left join accounts
        on engagement.app_id = accounts.app_id and engagement.openid = accounts.openid
    inner join grants
        on xref.customer_id = grants.customer_id and grants.consent_analytics

)

select * from final
