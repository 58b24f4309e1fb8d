{# The DTSEN snapshot the marts are built for: var('snapshot') or the latest one in the warehouse. #}
{% macro snapshot_month() -%}
    {%- if var('snapshot', '') -%}'{{ var('snapshot') }}'
    {%- else -%}(select max(snapshot) from {{ source('dtsen', 'person') }}){%- endif -%}
{%- endmacro %}

{# First day of the snapshot month: the date ages are taken on. #}
{% macro reference_date() -%}
    cast({{ snapshot_month() }} || '-01' as date)
{%- endmacro %}

{# Age in whole years on a date. #}
{% macro age_on(birth_date, on_date) -%}
    (date_diff('year', {{ birth_date }}, {{ on_date }})
     - case when strftime({{ birth_date }}, '%m%d') > strftime({{ on_date }}, '%m%d') then 1 else 0 end)
{%- endmacro %}
