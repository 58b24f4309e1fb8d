{# The DTSEN snapshot the marts are built for: var('snapshot') when given (dbt by hand), else the month the Dagster
   asset wrote into dtsen.marts_snapshot just before `dbt build` (a --vars value that changes every month would make
   dbt re-parse the whole project on every run), else the latest snapshot in the warehouse. #}
{% macro snapshot_month() -%}
    {%- if var('snapshot', '') -%}'{{ var('snapshot') }}'
    {%- else -%}(select coalesce((select max(snapshot) from dtsen.marts_snapshot),
                                 (select max(snapshot) from {{ source('dtsen', 'person') }}))){%- endif -%}
{%- endmacro %}

{# The same month as a literal, read when the node runs (dbt compiles each node just before running it, so partial
   parsing is kept): what a view pins its month to, so that it keeps showing the month it was built for when a later
   build of another month fails halfway. #}
{% macro snapshot_literal() -%}
    {%- if var('snapshot', '') -%}'{{ var('snapshot') }}'
    {%- elif execute -%}'{{ run_query("select " ~ snapshot_month()).columns[0].values()[0] }}'
    {%- else -%}{{ snapshot_month() }}{%- endif -%}
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
