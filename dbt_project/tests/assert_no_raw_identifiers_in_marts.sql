{{ config(meta={'description': 'Marts that analysts read never carry a raw NIK or KK: no 16-digit value in any column of the marts schema equals a raw NIK or KK of the snapshot.', 'dagster': {'ref': {'name': 'appeal_explanation'}}}) }}
-- Marts that analysts read never carry a raw NIK or KK: no 16-digit value in any column of the marts schema
-- equals a raw NIK or KK of the snapshot.
{% set marts = ['eligibility_pkh', 'eligibility_sembako', 'eligibility_pbi', 'eligibility_pip', 'exclusions',
                'appeal_explanation'] %}
with raw as (
    select nik as value from {{ source('dtsen', 'person') }} where snapshot = {{ snapshot_month() }} and nik is not null
    union
    select no_kk from {{ source('dtsen', 'person') }} where snapshot = {{ snapshot_month() }} and no_kk is not null
),
mart_values as (
    {% for m in marts %}
    select '{{ m }}' as mart, unnest(regexp_extract_all(cast(t as varchar), '\d{16}')) as value
    from {{ ref(m) }} t
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)
select mart, value from mart_values where value in (select value from raw)
