-- Targeting errors of the bottom 40% per province: the PMT beside the naive baselines (only where the synthetic
-- truth was available to the welfare asset; empty otherwise).
with evaluation as (
    select * from {{ ref('stg_welfare__targeting_evaluation') }}
),

provinces as (
    select * from {{ ref('province_bank') }}
)

select
    e.snapshot,
    e.scope,
    e.province_code,
    coalesce(p.province_name, case when e.scope = 'national' then 'INDONESIA' end) as province_name,
    e.families,
    e.poor_families,
    max(e.exclusion_error) filter (where e.method = 'pmt') as pmt_exclusion_error,
    max(e.inclusion_error) filter (where e.method = 'pmt') as pmt_inclusion_error,
    max(e.exclusion_error) filter (where e.method = 'p3ke_desil') as p3ke_exclusion_error,
    max(e.inclusion_error) filter (where e.method = 'p3ke_desil') as p3ke_inclusion_error,
    max(e.exclusion_error) filter (where e.method = 'floor_area_per_capita') as floor_area_exclusion_error,
    max(e.inclusion_error) filter (where e.method = 'floor_area_per_capita') as floor_area_inclusion_error
from evaluation e
left join provinces p using (province_code)
group by all
