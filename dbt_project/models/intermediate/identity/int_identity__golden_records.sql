{{ config(**keyed_incremental(
    'customer_id',
    post_hook="delete from {{ this }} where customer_id not in (select customer_id from {{ source('identity', 'customer_xref') }})",
)) }}

-- incremental: the customers identity resolution wrote since the last build (their records or
-- their links changed) are recomputed; ids merged away or retired are removed by the post-hook
with touched as (

    select distinct customer_id from {{ source('identity', 'customer_xref') }}
    where {{ newer_than_built('resolved_at', '_resolved_at') }}

),

xref as (

    select * from {{ source('identity', 'customer_xref') }}
    where customer_id in (select touched.customer_id from touched)

),

source_records as (

    select * from {{ ref('int_identity__source_records') }}

),

excluded as (

    select * from {{ ref('int_identity__excluded_identifiers') }}

),

records as (

    select
        xref.customer_id,
        xref.resolved_at,
        source_records.source_system,
        source_records.source_rank,
        source_records.last_seen_at,
        source_records.first_seen_at,
        {{ standard_name('source_records.display_name') }} as display_name,
        source_records.name_key,
        source_records.gender,
        cast(source_records.birth_date as {{ dbt.type_string() }}) as birth_date,
        source_records.national_id,
        case when phone_excluded.identifier_value is null then source_records.phone end as phone,
        case when email_excluded.identifier_value is null then source_records.email end as email,
        source_records.address,
        source_records.city,
        source_records.postal_code
    from xref
    inner join source_records
        on xref.record_key = source_records.record_key
    left join excluded as phone_excluded
        on
            phone_excluded.identifier_type = 'phone'
            and source_records.phone = phone_excluded.identifier_value
    left join excluded as email_excluded
        on
            email_excluded.identifier_type = 'email'
            and source_records.email = email_excluded.identifier_value

),

-- survivorship (docs/identity.md#golden-record): the value most of the customer's records
-- support after normalisation; a name's support counts every spelling of it (traditional,
-- simplified, pinyin, reversed: one name_key), and in region CN the Chinese form is shown
-- rather than its romanisation. Ties go to the most trusted source (CRM, shop, social, till),
-- then to the most recently seen record.
{%- set attributes = [
    ('name', 'display_name', 'name_key'),
    ('gender', 'gender', 'gender'),
    ('birth_date', 'birth_date', 'birth_date'),
    ('national_id', 'national_id', 'national_id'),
    ('phone', 'phone', 'phone'),
    ('email', 'email', 'email'),
    ('address', 'address', 'address'),
    ('city', 'city', 'city'),
    ('postal_code', 'postal_code', 'postal_code'),
] %}

{%- set native = (
    regex_matches('display_name', '[\\x{3400}-\\x{9fff}]')
    if var('identity_default_region') == 'CN' else 'false'
) %}

candidates as (

    {%- for attribute, column, support_key in attributes %}

        select
            customer_id,
            source_system,
            source_rank,
            last_seen_at,
            '{{ attribute }}' as attribute_name,
            {{ column }} as attribute_value,
            {{ support_key }} as support_key,
            {{ native if attribute == 'name' else 'false' }} as is_native_script
        from records
        where {{ column }} is not null
        {%- if not loop.last %}

            union all
        {%- endif %}
    {%- endfor %}

),

supported as (

    select
        *,
        count(*) over (partition by customer_id, attribute_name, support_key) as supporting_records,
        count(*) over (partition by customer_id, attribute_name, attribute_value)
            as records_with_value
    from candidates

),

chosen as (

    select
        customer_id,
        attribute_name,
        attribute_value,
        source_system
    from supported
    qualify row_number() over (
        partition by customer_id, attribute_name
        order by
            supporting_records desc,
            is_native_script desc,
            records_with_value desc,
            source_rank asc,
            last_seen_at desc,
            attribute_value asc
    ) = 1

),

pivoted as (

    select
        customer_id,
        {%- for attribute, column, support_key in attributes %}
            max(case when attribute_name = '{{ attribute }}' then attribute_value end) as {{ attribute }},
            max(case when attribute_name = '{{ attribute }}' then source_system end) as {{ attribute }}_source
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from chosen
    group by customer_id

),

customers as (

    select
        customer_id,
        count(*) as source_records,
        min(first_seen_at) as first_seen_at,
        max(last_seen_at) as last_seen_at,
        max(resolved_at) as _resolved_at
    from records
    group by customer_id

),

final as (

    select
        customers.customer_id,
        pivoted.name as customer_name,
        pivoted.name_source as customer_name_source,
        pivoted.gender,
        pivoted.gender_source,
        cast(pivoted.birth_date as date) as birth_date,
        pivoted.birth_date_source,
        pivoted.national_id,
        pivoted.national_id_source,
        pivoted.phone,
        pivoted.phone_source,
        pivoted.email,
        pivoted.email_source,
        pivoted.address,
        pivoted.address_source,
        pivoted.city,
        pivoted.city_source,
        pivoted.postal_code,
        pivoted.postal_code_source,
        customers.source_records,
        customers.first_seen_at,
        customers.last_seen_at,
        customers._resolved_at
    from customers
    left join pivoted
        on customers.customer_id = pivoted.customer_id

)

select * from final
