{#-
    The record key of a source row, as the identity layer writes it (`<source>:<entity>:<id>`; a
    social account's id is `<app_id>:<openid>`): how every model joins a source row to the id map.
-#}
{% macro record_key(source_system, entity) -%}
    {%- set parts = ["'" ~ source_system ~ ":" ~ entity ~ ":'"] -%}
    {%- for column in varargs -%}
        {%- if not loop.first %}{% do parts.append("':'") %}{% endif -%}
        {%- do parts.append(column) -%}
    {%- endfor -%}
    {{ dbt.concat(parts) }}
{%- endmacro %}
