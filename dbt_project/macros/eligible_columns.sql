{# The columns every eligibility mart carries for its unit: who (pseudonymised), where, and the welfare ranking
   that decides eligibility and quota order. One list for the family programs, one for the person programs. #}
{% macro eligible_family_columns(alias) -%}
        {{ alias }}.snapshot,
        {{ alias }}.family_id,
        {{ alias }}.no_kk_pseudo,
        {{ alias }}.province_code,
        {{ alias }}.regency_code,
        {{ alias }}.village_code,
        {{ alias }}.members,
        {{ alias }}.desil,
        {{ alias }}.desil_province,
        {{ alias }}.predicted_pcc
{%- endmacro %}

{% macro eligible_person_columns(alias) -%}
        {{ alias }}.snapshot,
        {{ alias }}.person_id,
        {{ alias }}.family_id,
        {{ alias }}.nik_pseudo,
        {{ alias }}.no_kk_pseudo,
        {{ alias }}.province_code,
        {{ alias }}.regency_code,
        {{ alias }}.village_code,
        {{ alias }}.age,
        {{ alias }}.desil,
        {{ alias }}.desil_province,
        {{ alias }}.predicted_pcc
{%- endmacro %}
