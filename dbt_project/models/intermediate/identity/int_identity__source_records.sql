{{ config(**keyed_incremental('record_key')) }}

-- incremental: only the records whose current version was loaded since the last build are
-- normalised (docs/operations.md#incremental-runs)
with members as (

    select * from {{ ref('stg_crm__members') }}
    where {{ newer_than_built('_loaded_at') }}

),

shop_accounts as (

    select * from {{ ref('stg_ecommerce__customers') }}
    where {{ newer_than_built('_loaded_at') }}

),

receipts as (

    select * from {{ ref('stg_pos__transactions') }}
    where {{ newer_than_built('_loaded_at') }}

),

social_accounts as (

    select * from {{ ref('stg_social__accounts') }}
    where {{ newer_than_built('_loaded_at') }}

),

member_records as (

    select
        'crm' as source_system,
        'members' as entity,
        member_id as source_record_id,
        'profile' as record_kind,
        name as raw_name,
        gender,
        birth_date,
        national_id as raw_national_id,
        email as raw_email,
        phone as raw_phone,
        address as raw_address,
        city,
        {{ normalise_postcode('postal_code') }} as postal_code,
        member_id,
        card_no,
        cast(null as {{ dbt.type_string() }}) as unionid,
        cast(null as {{ dbt.type_string() }}) as app_id,
        registered_at as first_seen_at,
        updated_at as last_seen_at,
        _loaded_at
    from members

),

shop_account_records as (

    select
        'ecommerce' as source_system,
        'customers' as entity,
        account_id as source_record_id,
        'profile' as record_kind,
        name as raw_name,
        cast(null as {{ dbt.type_string() }}) as gender,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as raw_national_id,
        email as raw_email,
        phone as raw_phone,
        shipping_address as raw_address,
        city,
        cast(null as {{ dbt.type_string() }}) as postal_code,
        cast(null as {{ dbt.type_string() }}) as member_id,
        cast(null as {{ dbt.type_string() }}) as card_no,
        cast(null as {{ dbt.type_string() }}) as unionid,
        platform as app_id,
        created_at as first_seen_at,
        updated_at as last_seen_at,
        _loaded_at
    from shop_accounts

),

receipt_records as (

    -- anonymous receipts (no card, no phone) identify nobody and are left out
    select
        'pos' as source_system,
        'transactions' as entity,
        transaction_id as source_record_id,
        'receipt' as record_kind,
        cast(null as {{ dbt.type_string() }}) as raw_name,
        cast(null as {{ dbt.type_string() }}) as gender,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as raw_national_id,
        cast(null as {{ dbt.type_string() }}) as raw_email,
        phone as raw_phone,
        cast(null as {{ dbt.type_string() }}) as raw_address,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as postal_code,
        cast(null as {{ dbt.type_string() }}) as member_id,
        member_card_no as card_no,
        cast(null as {{ dbt.type_string() }}) as unionid,
        store_id as app_id,
        transacted_at as first_seen_at,
        transacted_at as last_seen_at,
        _loaded_at
    from receipts
    where member_card_no is not null or phone is not null

),

social_account_records as (

    select
        'social' as source_system,
        'accounts' as entity,
        {{ dbt.concat(["app_id", "':'", "openid"]) }} as source_record_id,
        'profile' as record_kind,
        cast(null as {{ dbt.type_string() }}) as raw_name,
        cast(null as {{ dbt.type_string() }}) as gender,
        cast(null as date) as birth_date,
        cast(null as {{ dbt.type_string() }}) as raw_national_id,
        cast(null as {{ dbt.type_string() }}) as raw_email,
        phone as raw_phone,
        cast(null as {{ dbt.type_string() }}) as raw_address,
        cast(null as {{ dbt.type_string() }}) as city,
        cast(null as {{ dbt.type_string() }}) as postal_code,
        cast(null as {{ dbt.type_string() }}) as member_id,
        cast(null as {{ dbt.type_string() }}) as card_no,
        unionid,
        app_id,
        followed_at as first_seen_at,
        updated_at as last_seen_at,
        _loaded_at
    from social_accounts

),

unioned as (

    select * from member_records
    union all
    select * from shop_account_records
    union all
    select * from receipt_records
    union all
    select * from social_account_records

),

final as (

    select
        {{ dbt.concat(["source_system", "':'", "entity", "':'", "source_record_id"]) }} as record_key,
        source_system,
        entity,
        source_record_id,
        record_kind,
        raw_name as display_name,
        {{ normalise_person_name('raw_name') }} as person_name,
        {{ name_key('raw_name') }} as name_key,
        {{ surname_key('raw_name') }} as surname_key,
        {{ given_key('raw_name') }} as given_key,
        gender,
        birth_date,
        {{ normalise_national_id('raw_national_id') }} as national_id,
        {{ normalise_email('raw_email') }} as email,
        {{ normalise_phone('raw_phone') }} as phone,
        {{ normalise_address('raw_address') }} as address,
        city,
        {{ normalise_postcode('postal_code') }} as postal_code,
        member_id,
        card_no,
        unionid,
        app_id,
        first_seen_at,
        last_seen_at,
        case source_system
            when 'crm' then 1
            when 'ecommerce' then 2
            when 'social' then 3
            else 4
        end as source_rank,
        _loaded_at
    from unioned

)

select * from final
