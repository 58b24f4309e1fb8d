-- Every family of the snapshot with its welfare ranking and the family-level exclusions that apply to it.
with families as (
    select * from {{ ref('stg_dtsen__families') }}
),

welfare as (
    select * from {{ ref('stg_welfare__family_welfare') }}
),

exclusions as (
    select family_id, string_agg(reason, ',' order by reason) as family_exclusions
    from {{ ref('int_exclusions__listed') }} where unit = 'family' group by family_id
)

select
    f.*,
    w.desil,
    w.desil_province,
    w.predicted_pcc,
    w.proxies_source,
    w.pmt_model_id,
    e.family_exclusions,
    e.family_exclusions is not null as is_excluded
from families f
left join welfare w using (family_id)
left join exclusions e using (family_id)
