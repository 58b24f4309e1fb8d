{# Clean schema names: `marts`, not `main_marts`. The target's schema names the area a build goes to
   (dtsen/builds.py): `main` is the current marts; any other (`rebuild`) prefixes every schema but history, which
   every month shares: `rebuild_marts`, `rebuild_staging`, ... #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}{{ target.schema }}
    {%- elif target.schema == 'main' or custom_schema_name | trim == 'history' -%}{{ custom_schema_name | trim }}
    {%- else -%}{{ target.schema }}_{{ custom_schema_name | trim }}{%- endif -%}
{%- endmacro %}
