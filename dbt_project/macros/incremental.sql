{#-
    The batch of an incremental model (docs/operations.md#incremental-runs): rows newer than the
    newest the model already holds, by a load or resolution timestamp. Every row of a full build.
-#}
{% macro newer_than_built(column, built_column=none) -%}
    {%- if is_incremental() -%}
        {%- set watermark = built_column or column -%}
        {%- if execute and watermark not in (adapter.get_columns_in_relation(this) | map(attribute='name') | list) -%}
            {#- a table built before the model was incremental: max() would bind to the batch -#}
            {{ exceptions.raise_compiler_error(
                this ~ " has no column " ~ watermark ~ ": it was built by an earlier omni360, "
                ~ "before the model was incremental. Rebuild the warehouse's models once: "
                ~ "omni360 run --full-refresh (docs/operations.md#incremental-runs)"
            ) }}
        {%- endif -%}
        {{ column }} > (
            select coalesce(max({{ built_column or column }}), cast('0001-01-01' as timestamp))
            from {{ this }}
        )
    {%- else -%}
        true
    {%- endif -%}
{%- endmacro %}


{#-
    The records whose identifiers int_identity__identifiers must build again: a version of theirs
    (the current one, or an older one delivered late) was loaded since its last build.
-#}
{% macro identifiers_to_rebuild() -%}
    select record_key, max(_loaded_at) as _loaded_at
    from (
        select record_key, _loaded_at from {{ ref('int_identity__source_records') }}
        union all
        select {{ record_key('crm', 'members', 'member_id') }} as record_key, _loaded_at
        from {{ ref('stg_crm__member_versions') }}
        union all
        select {{ record_key('ecommerce', 'customers', 'account_id') }} as record_key, _loaded_at
        from {{ ref('stg_ecommerce__customer_versions') }}
    ) as loads
    where {{ newer_than_built('_loaded_at') }}
    group by record_key
{%- endmacro %}


{#-
    A deduplicated staging model as an incremental table (docs/operations.md#incremental-runs):
    the keys given a new version since the last build are staged again from all their versions
    and replace their rows. Rows that leave the lake (a withdrawn file, an erasure) make the next
    run a full refresh, so nothing here has to notice a deletion.
-#}
{% macro staged_incrementally(unique_key) -%}
    {{ return(keyed_incremental(unique_key)) }}
{%- endmacro %}


{#-
    The config of a model kept up to date by key: the rows of the keys a build selects replace
    their old rows (delete+insert), then `post_hook` (if any) removes what no longer belongs.
    On Spark, where plain Parquet tables cannot delete rows, the model is a table rebuilt in
    full on every build (docs/spark.md#what-differs).
-#}
{% macro keyed_incremental(unique_key, post_hook=none) -%}
    {#- a config, not SQL: chosen by the target's type rather than dispatched -#}
    {%- if target.type == 'spark' -%}
        {{ return({'materialized': 'table'}) }}
    {%- endif -%}
    {%- set config = {
        'materialized': 'incremental',
        'unique_key': unique_key,
        'incremental_strategy': 'delete+insert',
        'on_schema_change': 'fail',
    } -%}
    {%- if post_hook -%}
        {%- do config.update({'post_hook': post_hook}) -%}
    {%- endif -%}
    {{ return(config) }}
{%- endmacro %}


{#- The source of a deduplicated staging model: every version of the keys `staged_incrementally`
    builds again, or the whole source in a full build. -#}
{% macro changed_versions(relation, key) -%}
    select * from {{ relation }}
    {%- if is_incremental() %}
    where ({{ key }}) in (
        select {{ key }} from {{ relation }} where {{ newer_than_built('_loaded_at') }}
    )
    {%- endif %}
{%- endmacro %}


{#-
    The shop orders whose refunds int_sales__order_lines and int_sales__orders must build again:
    the order of every version of each refund loaded since the model's last build (a corrected
    refund may name another order or line than its version before, which must lose it).
-#}
{% macro orders_of_changed_refunds() -%}
    select distinct
        'ecommerce' as source_system,
        versions.order_id
    from {{ source('ecommerce', 'refunds') }} as versions
    where versions.refund_id in (
        select refund_id from {{ ref('stg_ecommerce__refunds') }}
        where {{ newer_than_built('_loaded_at') }}
    )
{%- endmacro %}


{#- In an incremental build, the rows of the orders the model's `changed_orders` lists; every row
    of a full build. `source_system`: a column, or a quoted literal for a one-source relation. -#}
{% macro of_changed_orders(order_id, source_system) -%}
    {%- if is_incremental() %}
        inner join changed_orders
            on
                {{ source_system }} = changed_orders.source_system
                and {{ order_id }} = changed_orders.order_id
    {%- endif %}
{%- endmacro %}
