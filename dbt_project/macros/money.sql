{#-
    `total / count` as money, decimal(18, 2): the exact quotient rounded half away from zero, the
    same on every engine. DuckDB divides decimals in floating point and Spark exactly, so a
    quotient ending in a half cent (246.89 / 2) came out 123.44 on one and 123.45 on the other;
    here the division is in whole cents, with integers. Null when `count` is 0 or null.
-#}
{% macro average_money(total, count) -%}
    cast(
        cast(
            case when {{ total }} < 0 then -1 else 1 end
            * {{ integer_divide(
                "2 * abs(cast(round(" ~ total ~ " * 100) as bigint)) + " ~ count,
                "2 * nullif(" ~ count ~ ", 0)",
            ) }}
            as decimal(18, 0)
        ) * 0.01
        as decimal(18, 2)
    )
{%- endmacro %}


{#- The integer quotient of two non-negative integers (DuckDB `//`, Spark `div`). -#}
{% macro integer_divide(dividend, divisor) -%}
    {{ return(adapter.dispatch('integer_divide', 'omni360')(dividend, divisor)) }}
{%- endmacro %}

{% macro default__integer_divide(dividend, divisor) -%}
    (({{ dividend }}) // ({{ divisor }}))
{%- endmacro %}

{% macro spark__integer_divide(dividend, divisor) -%}
    (({{ dividend }}) div ({{ divisor }}))
{%- endmacro %}
