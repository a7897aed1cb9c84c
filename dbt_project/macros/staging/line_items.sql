{#-
    A staged table of line items (e-commerce order lines, till receipt lines: one shape, from the
    contract's LINE_ITEM_COLUMNS): one row per `order_key` and line number, the latest delivery.
-#}
{% macro stage_line_items(source_relation, order_key) -%}
with source as (

    select * from {{ source_relation }}

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
