{#- The folder's `+schema` is the real schema (no `<target>_` prefix), so the schema, the Dagster
    asset-key prefix and the group agree. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
