{#- The calendar: the time spine of the semantic layer, and a date dimension for BI tools. -#}
with days as (

    {{ dbt.date_spine('day', "cast('2015-01-01' as date)", "cast('2035-01-01' as date)") }}

),

final as (

    select
        cast(date_day as date) as date_day,
        cast({{ dbt.date_trunc('week', 'date_day') }} as date) as week_start,
        cast({{ dbt.date_trunc('month', 'date_day') }} as date) as month_start,
        cast({{ dbt.date_trunc('quarter', 'date_day') }} as date) as quarter_start,
        cast(extract(year from date_day) as bigint) as calendar_year
    from days

)

select * from final
