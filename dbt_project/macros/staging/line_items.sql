{#-
    A staged table of line items (e-commerce order lines, till receipt lines: one shape, from the
    contract's LINE_ITEM_COLUMNS): one row per `order_key` and line number, the latest delivery.
-#}
{% macro stage_line_items(source_relation, order_key) -%}
{{ config(**staged_incrementally([order_key, 'line_no'])) }}

with source as (

    {{ changed_versions(source_relation, order_key ~ ', line_no') }}

),

deduplicated as (

    {{ deduplicate(
        'source',
        partition_by=order_key ~ ', line_no',
        order_by='_loaded_at desc, _source_file desc, _line_no desc'
    ) }}

),

final as (

    select
        {{ order_key }},
        line_no,
        sku,
        product_name,
        category,
        quantity,
        unit_price,
        discount,
        _source_file,
        _line_no,
        _load_id,
        _loaded_at,
        _warnings
    from deduplicated

)

select * from final
{%- endmacro %}
