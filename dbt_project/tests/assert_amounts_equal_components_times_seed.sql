{{ config(meta={'description': 'Every amount in the marts equals its components x the seed\'s amounts (recomputed independently here).', 'dagster': {'ref': {'name': 'eligibility_pkh'}}}) }}
-- Every amount in the marts equals its components x the seed's amounts (recomputed independently here).
with pkh_paid as (
    select e.family_id, e.annual_amount, e.tranche_amount, unnest(string_split(e.components, ',')) as item
    from {{ ref('eligibility_pkh') }} e
),
pkh as (
    select pkh_paid.family_id, any_value(pkh_paid.annual_amount) as annual_amount,
           any_value(pkh_paid.tranche_amount) as tranche_amount, sum(b.annual_amount) as expected
    from pkh_paid
    join {{ ref('benefit_components') }} b
      on b.program = 'PKH' and b.component = split_part(item, ':', 1)
    group by pkh_paid.family_id
),
pkh_params as (select * from {{ ref('program_parameters') }} where program = 'PKH'),
amounts as (
    select 'PKH' as program, family_id as unit_id, annual_amount, expected from pkh
    union all
    select 'PKH tranche', family_id, tranche_amount, cast(expected * p.months_per_payment / 12 as bigint)
    from pkh cross join pkh_params p
    union all
    select 'SEMBAKO', s.family_id, s.annual_amount, b.annual_amount
    from {{ ref('eligibility_sembako') }} s
    join {{ ref('benefit_components') }} b on b.program = 'SEMBAKO' and b.component = 'family'
    union all
    select 'PBI', p.person_id, p.annual_amount, b.annual_amount
    from {{ ref('eligibility_pbi') }} p
    join {{ ref('benefit_components') }} b on b.program = 'PBI' and b.component = 'premium'
    union all
    select 'PIP', p.person_id, p.annual_amount, b.annual_amount
    from {{ ref('eligibility_pip') }} p
    join {{ ref('benefit_components') }} b on b.program = 'PIP' and b.school_level = p.school_level
)
select * from amounts where annual_amount is distinct from expected
