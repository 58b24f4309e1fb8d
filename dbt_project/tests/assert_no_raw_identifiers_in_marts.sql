{{ config(meta={'description': 'Marts that analysts read never carry a raw NIK or KK: no 16-digit value in any text or integer column of the marts schema equals a raw NIK or KK of the snapshot.', 'dagster': {'ref': {'name': 'appeal_explanation'}}}) }}
-- Marts that analysts read never carry a raw NIK or KK: no 16-digit value in any text column (anywhere in the
-- text, on any of its lines) or integer column of the marts equals a raw NIK or KK of the snapshot. Column by
-- column: casting whole rows to text cost seconds at 1 M persons. A value shorter than 16 bytes cannot hold one, so
-- the regular expression reads only the others (1.8 -> 1.1 s at 1 M persons; `similar to '.*[0-9]{16}.*'`, used
-- before, must match the whole value, and `.` stops at a line break: it missed a NIK on a text's second line).
{% set marts = ['eligibility_pkh', 'eligibility_sembako', 'eligibility_pbi', 'eligibility_pip', 'exclusions',
                'appeal_explanation'] %}
with raw as (
    select nik as value from {{ source('dtsen', 'person') }} where snapshot = {{ snapshot_month() }} and nik is not null
    union
    select no_kk from {{ source('dtsen', 'person') }} where snapshot = {{ snapshot_month() }} and no_kk is not null
),
mart_values as (
    select null::varchar as mart, null::varchar as value where false
    {%- for m in marts %}
    {%- for col in adapter.get_columns_in_relation(ref(m)) %}
    {%- if col.is_string() %}
    union all
    select '{{ m }}.{{ col.name }}', unnest(regexp_extract_all({{ adapter.quote(col.name) }}, '\d{16}'))
    from {{ ref(m) }}
    where strlen({{ adapter.quote(col.name) }}) >= 16 and regexp_matches({{ adapter.quote(col.name) }}, '[0-9]{16}')
    {%- elif col.is_integer() or col.dtype | lower in ('bigint', 'hugeint', 'ubigint', 'uhugeint') %}
    union all
    select '{{ m }}.{{ col.name }}', cast({{ adapter.quote(col.name) }} as varchar)
    from {{ ref(m) }} where {{ adapter.quote(col.name) }} between 1000000000000000 and 9999999999999999
    {%- endif %}
    {%- endfor %}
    {%- endfor %}
)
select mart, value from mart_values where value in (select value from raw)
