{#-
    Whether `column` matches the regular expression `pattern` anywhere in it. `pattern` is the
    expression's text, unquoted; each engine gets it as its string literals need it (DuckDB's
    regexp_matches, RE2; Spark's rlike, Java regular expressions, with backslash escapes in
    string literals). Write patterns both engines read the same: character classes, anchors,
    \x{hhhh} code points.
-#}
{% macro regex_matches(column, pattern) -%}
    {{ return(adapter.dispatch('regex_matches', 'omni360')(column, pattern)) }}
{%- endmacro %}

{% macro default__regex_matches(column, pattern) -%}
    regexp_matches({{ column }}, '{{ pattern | replace("'", "''") }}')
{%- endmacro %}

{% macro spark__regex_matches(column, pattern) -%}
    ({{ column }} rlike '{{ pattern | replace("\\", "\\\\") | replace("'", "\\'") }}')
{%- endmacro %}
