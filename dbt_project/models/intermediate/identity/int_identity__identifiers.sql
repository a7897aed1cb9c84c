{{ config(**keyed_incremental(
    'record_key',
    post_hook="delete from {{ this }} as identifiers using {{ ref('int_identity__source_records') }} as records where identifiers.record_key = records.record_key and identifiers._loaded_at < records._loaded_at",
)) }}

-- incremental: every record with a version loaded since the last build (its current one, or an
-- older one delivered late) has its identifiers replaced from all of its versions; the post-hook
-- drops what is left of a record that now has none (rows older than its current version)
with changed as (

    {{ identifiers_to_rebuild() }}

),

source_records as (

    select * from {{ ref('int_identity__source_records') }}
    where record_key in (select changed.record_key from changed)

),

member_versions as (

    select * from {{ ref('stg_crm__member_versions') }}
    where
        {{ record_key('crm', 'members', 'member_id') }} in (select changed.record_key from changed)

),

shop_account_versions as (

    select * from {{ ref('stg_ecommerce__customer_versions') }}
    where
        {{ record_key('ecommerce', 'customers', 'account_id') }}
        in (select changed.record_key from changed)

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
        cast(null as {{ dbt.type_string() }}) as national_id,
        cast(null as {{ dbt.type_string() }}) as card_no
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
        cast(null as {{ dbt.type_string() }}) as unionid
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
        long_form.record_key,
        long_form.identifier_type,
        long_form.identifier_value,
        changed._loaded_at
    from long_form
    inner join changed
        on long_form.record_key = changed.record_key
    where long_form.identifier_value is not null

)

select * from final
