{#-
    The lifecycle stage of a customer on a date, from what is known up to that date
    (docs/metrics.md#lifecycle). One place for the rule: the snapshots and dim_customer use it.
-#}
{% macro lifecycle_stage(orders_to_date, orders_in_window, days_since_last_order, is_engaged) -%}
    case
        when coalesce({{ orders_to_date }}, 0) = 0 and {{ is_engaged }} then 'awareness'
        when coalesce({{ orders_to_date }}, 0) = 0 then 'contact'
        when {{ days_since_last_order }} > {{ var('lifecycle_churn_days') }} then 'churned'
        when
            {{ orders_in_window }} >= {{ var('lifecycle_loyal_min_orders') }}
            and {{ days_since_last_order }} <= {{ var('lifecycle_loyal_recency_days') }}
            then 'loyal'
        when {{ orders_to_date }} = 1 then 'first_purchase'
        else 'repurchase'
    end
{%- endmacro %}

{#- The stage's Chinese name, as used in private-domain retail. -#}
{% macro lifecycle_stage_zh(stage) -%}
    case {{ stage }}
        when 'contact' then '接触'
        when 'awareness' then '认知'
        when 'first_purchase' then '购买'
        when 'repurchase' then '使用'
        when 'loyal' then '维护'
        when 'churned' then '退出'
    end
{%- endmacro %}

{#- Member tier by net revenue and orders over the last 365 days. -#}
{% macro member_tier(revenue_365d, orders_365d) -%}
    case
        when
            {{ revenue_365d }} >= {{ var('tier_gold_min_revenue') }}
            and {{ orders_365d }} >= {{ var('tier_gold_min_orders') }}
            then 'gold'
        when
            {{ revenue_365d }} >= {{ var('tier_silver_min_revenue') }}
            and {{ orders_365d }} >= {{ var('tier_silver_min_orders') }}
            then 'silver'
        else 'regular'
    end
{%- endmacro %}

{#-
    The date the marts describe (docs/metrics.md#as-of-date): the var as_of_date, else the
    latest delivery date of a loaded file. Never the largest date in the data: one record
    dated 2099 must not move every customer's lifecycle.
-#}
{% macro as_of_date() -%}
    {%- if var('as_of_date') -%}
        cast('{{ var("as_of_date") }}' as date)
    {%- else -%}
        (select max(delivery_date) from {{ ref('stg_ingest__loaded_files') }} where status = 'loaded')
    {%- endif -%}
{%- endmacro %}
