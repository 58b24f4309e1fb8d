{#
  Quota allocation (DOMAIN: the poorest go first, per region). `relation` holds the program's eligible units with
  province_code and predicted_pcc; units are ranked within their province by predicted per-capita consumption
  (lowest first, then id) and the first `quota` are recipients. The rank, the quota and the cut are kept.
  Quota = seed quota x quota_scale (int_rules__versioned).
#}
{% macro allocate_quota(program, relation, id_column) %}
with eligible as (
    select * from {{ relation }}
),

quota as (
    select q.province_code, cast(floor(q.quota * r.quota_scale) as bigint) as quota
    from {{ ref('program_quota') }} q
    cross join {{ ref('int_rules__versioned') }} r
    where q.program = '{{ program }}'
),

ranked as (
    select
        e.*,
        row_number() over (partition by e.province_code order by e.predicted_pcc, e.{{ id_column }}) as quota_rank
    from eligible e
)

select
    ranked.*,
    quota.quota as province_quota,
    ranked.quota_rank <= coalesce(quota.quota, 0) as is_recipient,
    case when quota.quota is null then 'cut_no_regional_quota'
         when ranked.quota_rank <= quota.quota then 'recipient'
         else 'cut_by_quota' end as status
from ranked
left join quota using (province_code)
{% endmacro %}
