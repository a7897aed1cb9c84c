with source_records as (

    select * from {{ ref('int_identity__source_records') }}

),

member_versions as (

    select * from {{ ref('stg_crm__member_versions') }}

),

shop_account_versions as (

    select * from {{ ref('stg_ecommerce__customer_versions') }}

),

-- identifiers a record had in earlier versions still identify it (an old phone on old receipts)
version_identifiers as (

    select
        {{ record_key('crm', 'members', 'member_id') }} as record_key,
        {{ normalise_phone('phone') }} as phone,
        {{ normalise_email('email') }} as email,
        {{ normalise_national_id('national_id') }} as national_id,
        card_no
    from member_versions

    union all

    select
        {{ record_key('ecommerce', 'customers', 'account_id') }} as record_key,
        {{ normalise_phone('phone') }} as phone,
        {{ normalise_email('email') }} as email,
        cast(null as varchar) as national_id,
        cast(null as varchar) as card_no
    from shop_account_versions

),

current_identifiers as (

    select
        record_key,
        phone,
        email,
        national_id,
        card_no,
        unionid
    from source_records

),

all_values as (

    select
        record_key,
        phone,
        email,
        national_id,
        card_no,
        cast(null as varchar) as unionid
    from version_identifiers
    union all
    select * from current_identifiers

),

long_form as (

    select
        record_key,
        'phone' as identifier_type,
        phone as identifier_value
    from all_values
    union
    select
        record_key,
        'email' as identifier_type,
        email as identifier_value
    from all_values
    union
    select
        record_key,
        'national_id' as identifier_type,
        national_id as identifier_value
    from all_values
    union
    select
        record_key,
        'card_no' as identifier_type,
        card_no as identifier_value
    from all_values
    union
    select
        record_key,
        'unionid' as identifier_type,
        unionid as identifier_value
    from all_values

),

final as (

    select
        record_key,
        identifier_type,
        identifier_value
    from long_form
    where identifier_value is not null

)

select * from final
