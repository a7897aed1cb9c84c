{%- set max_records = var('identity_max_records_per_identifier') -%}
{%- set max_names = var('identity_max_names_per_identifier') -%}

with identifiers as (

    select * from {{ ref('int_identity__identifiers') }}

),

source_records as (

    select * from {{ ref('int_identity__source_records') }}

),

reviewed as (

    select * from {{ ref('identity_blocked_values') }}

),

usage as (

    select
        identifiers.identifier_type,
        identifiers.identifier_value,
        count(distinct identifiers.record_key) as record_count,
        count(distinct source_records.name_key) as name_count
    from identifiers
    inner join source_records
        on identifiers.record_key = source_records.record_key
    group by identifiers.identifier_type, identifiers.identifier_value

),

flagged as (

    select
        usage.identifier_type,
        usage.identifier_value,
        usage.record_count,
        usage.name_count,
        case
            when reviewed.identifier_value is not null then 'reviewed_list'
            when usage.identifier_type in ('phone', 'card_no') and {{ has_repeated_digits('usage.identifier_value') }}
                then 'repeated_digits'
            when usage.record_count > {{ max_records }} then 'too_many_records'
            when usage.name_count > {{ max_names }} then 'too_many_names'
        end as exclusion_rule,
        reviewed.reason as reviewed_reason
    from usage
    left join reviewed
        on
            usage.identifier_type = reviewed.identifier_type
            and usage.identifier_value = reviewed.identifier_value

),

final as (

    select
        identifier_type,
        identifier_value,
        exclusion_rule,
        case exclusion_rule
            when 'reviewed_list' then reviewed_reason
            when 'repeated_digits' then 'one digit repeated 7 or more times: a placeholder'
            when 'too_many_records'
                then {{ dbt.concat([
                    "'on '", "cast(record_count as " ~ dbt.type_string() ~ ")", "' records (limit " ~ max_records ~ ")'"
                ]) }}
            when 'too_many_names'
                then {{ dbt.concat([
                    "'carried by '", "cast(name_count as " ~ dbt.type_string() ~ ")", "' names (limit " ~ max_names ~ ")'"
                ]) }}
        end as reason,
        record_count,
        name_count
    from flagged
    where exclusion_rule is not null

)

select * from final
