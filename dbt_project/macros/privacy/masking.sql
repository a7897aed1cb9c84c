{#-
    Display masks and keyed tokens for personal data leaving the restricted schemas
    (docs/compliance.md). Masks keep what a service agent needs to recognise a customer;
    tokens (HMAC-SHA256, secret from OMNI360_TOKEN_SECRET) join and export audiences.
-#}

{#- +8613800138000 → 138****8000 (national number: first 3 and last 4 digits) -#}
{% macro mask_phone(column) -%}
    case
        when {{ column }} is not null
            then {{ dbt.concat([
                "substr(" ~ column ~ ", length(" ~ column ~ ") - 10, 3)",
                "'****'",
                "right(" ~ column ~ ", 4)",
            ]) }}
    end
{%- endmacro %}

{#- zhang.wei@qq.com → z***@qq.com (without an @, the first character only) -#}
{% macro mask_email(column) -%}
    case
        when {{ dbt.position("'@'", column) }} > 0
            then {{ dbt.concat([
                "left(" ~ column ~ ", 1)",
                "'***'",
                "substr(" ~ column ~ ", " ~ dbt.position("'@'", column) ~ ")",
            ]) }}
        when {{ column }} is not null
            then {{ dbt.concat(["left(" ~ column ~ ", 1)", "'***'"]) }}
    end
{%- endmacro %}

{#- 张伟 → 张*, Zhang Wei → Z*** : the first character only -#}
{% macro mask_name(column) -%}
    case
        when {{ column }} is not null
            then {{ dbt.concat([
                "left(" ~ column ~ ", 1)",
                "case when " ~ regex_matches("left(" ~ column ~ ", 1)", "[A-Za-z]") ~ " then '***' else '*' end",
            ]) }}
    end
{%- endmacro %}

{#- a keyed token of an identifier: same value and kind, same token, in every table -#}
{% macro pii_token(kind, column) -%}
    omni360_token('{{ kind }}', {{ column }})
{%- endmacro %}
