{#-
    Identifier normalisation for identity resolution. Phones, names, national IDs and postcodes
    call the omni360_* functions (phonenumbers, OpenCC, pypinyin, python-stdnum) that
    orchestration/lib/identity/duckdb_udfs.py registers on every connection; another engine
    registers the same Python functions under the same names. The region and the national-ID
    scheme are deployment settings (vars identity_default_region, identity_national_id_scheme;
    docs/identity.md#region-and-locale).
-#}

{% macro normalise_phone(column) -%}
    omni360_phone_e164({{ column }}, '{{ var("identity_default_region") }}')
{%- endmacro %}

{% macro normalise_person_name(column) -%}
    omni360_person_name({{ column }})
{%- endmacro %}

{% macro name_key(column) -%}
    omni360_name_key({{ column }})
{%- endmacro %}

{#- A name as shown (simplified Chinese, single spaces), for the golden record. -#}
{% macro standard_name(column) -%}
    omni360_standard_name({{ column }})
{%- endmacro %}

{#- The surname and the given names in Latin letters (pinyin for Chinese names). -#}
{% macro surname_key(column) -%}
    omni360_surname_key({{ column }})
{%- endmacro %}

{% macro given_key(column) -%}
    omni360_given_key({{ column }})
{%- endmacro %}

{% macro normalise_national_id(column) -%}
    omni360_national_id({{ column }}, '{{ var("identity_national_id_scheme") }}')
{%- endmacro %}

{% macro normalise_postcode(column) -%}
    omni360_postcode({{ column }}, '{{ var("identity_default_region") }}')
{%- endmacro %}

{#- Trimmed and lower-cased, or null unless it looks like local@domain.tld. -#}
{% macro normalise_email(column) -%}
    {{ return(adapter.dispatch('normalise_email', 'omni360')(column)) }}
{%- endmacro %}

{% macro default__normalise_email(column) -%}
    case
        when regexp_matches(lower(trim({{ column }})), '^[^@\s]+@[^@\s]+\.[a-z]{2,}$')
            then lower(trim({{ column }}))
    end
{%- endmacro %}

{% macro spark__normalise_email(column) -%}
    case
        when lower(trim({{ column }})) rlike '^[^@\\s]+@[^@\\s]+\\.[a-z]{2,}$'
            then lower(trim({{ column }}))
    end
{%- endmacro %}

{#- Lower case without any whitespace: Chinese addresses are written with and without spaces. -#}
{% macro normalise_address(column) -%}
    {{ return(adapter.dispatch('normalise_address', 'omni360')(column)) }}
{%- endmacro %}

{% macro default__normalise_address(column) -%}
    nullif(lower(regexp_replace({{ column }}, '\s+', '', 'g')), '')
{%- endmacro %}

{% macro spark__normalise_address(column) -%}
    nullif(lower(regexp_replace({{ column }}, '\\s+', '')), '')
{%- endmacro %}

{#- A value made of one digit repeated (13888888888): a placeholder, never a person's identifier. -#}
{% macro has_repeated_digits(column, run_length=7) -%}
    (
        {%- for digit in range(10) %}
        {{ column }} like '%{{ (digit | string) * run_length }}%'{% if not loop.last %} or{% endif %}
        {%- endfor %}
    )
{%- endmacro %}
