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

{#-
    A customer's lifecycle snapshots: one row per row of `customer_dates` (customer_id,
    snapshot_date, is_engaged), with the order facts up to that date from `orders_per_day`
    (customer_id, order_date, orders) and the stage they give. Shared by the month-end snapshots
    and the as-of date's, which are built apart (docs/operations.md#incremental-runs).
-#}
{% macro lifecycle_snapshot_rows(customer_dates, orders_per_day) -%}
    with order_history as (

        select
            customer_dates.customer_id,
            customer_dates.snapshot_date,
            cast(sum(orders_per_day.orders) as bigint) as orders_to_date,
            cast(sum(
                case
                    when
                        orders_per_day.order_date
                        > customer_dates.snapshot_date - {{ var('lifecycle_loyal_window_days') }}
                        then orders_per_day.orders
                    else 0
                end
            ) as bigint) as orders_in_window,
            max(orders_per_day.order_date) as last_order_date
        from {{ customer_dates }} as customer_dates
        inner join {{ orders_per_day }} as orders_per_day
            on
                customer_dates.customer_id = orders_per_day.customer_id
                and customer_dates.snapshot_date >= orders_per_day.order_date
        group by customer_dates.customer_id, customer_dates.snapshot_date

    )

    select
        customer_dates.customer_id,
        customer_dates.snapshot_date,
        coalesce(order_history.orders_to_date, 0) as orders_to_date,
        coalesce(order_history.orders_in_window, 0) as orders_in_window,
        order_history.last_order_date,
        cast(
            {{ dbt.datediff('order_history.last_order_date', 'customer_dates.snapshot_date', 'day') }}
            as bigint
        ) as days_since_last_order,
        coalesce(customer_dates.is_engaged, false) as is_engaged,
        {{ lifecycle_stage(
            'order_history.orders_to_date',
            'order_history.orders_in_window',
            dbt.datediff('order_history.last_order_date', 'customer_dates.snapshot_date', 'day'),
            'coalesce(customer_dates.is_engaged, false)'
        ) }} as lifecycle_stage,
        customer_dates.snapshot_date = {{ as_of_date() }} as is_current
    from {{ customer_dates }} as customer_dates
    left join order_history
        on
            customer_dates.customer_id = order_history.customer_id
            and customer_dates.snapshot_date = order_history.snapshot_date
{%- endmacro %}


{#- The non-cancelled orders of each customer, per order date (`orders`: a relation with
    customer_id, order_date, is_cancelled). -#}
{% macro orders_per_customer_day(orders) -%}
    select
        customer_id,
        order_date,
        count(*) as orders
    from {{ orders }}
    where customer_id is not null and not is_cancelled
    group by customer_id, order_date
{%- endmacro %}


{#- The month ends before the as-of date that hold an order (`orders`: a relation with
    order_date): the snapshot dates besides the as-of date itself. -#}
{% macro lifecycle_month_ends(orders) -%}
    select distinct cast({{ dbt.last_day('order_date', 'month') }} as date) as snapshot_date
    from {{ orders }}
    where cast({{ dbt.last_day('order_date', 'month') }} as date) < {{ as_of_date() }}
{%- endmacro %}
