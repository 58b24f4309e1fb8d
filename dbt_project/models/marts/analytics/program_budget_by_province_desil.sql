-- Recipients and annual budget by program x province x desil, with the eligible and the cut by quota.
with units as (
    select 'PKH' as program, province_code, desil, family_id, members as persons, is_recipient, annual_amount
    from {{ ref('eligibility_pkh') }}
    union all
    select 'SEMBAKO', province_code, desil, family_id, members, is_recipient, annual_amount
    from {{ ref('eligibility_sembako') }}
    union all
    select 'PBI', province_code, desil, family_id, 1, is_recipient, annual_amount from {{ ref('eligibility_pbi') }}
    union all
    select 'PIP', province_code, desil, family_id, 1, is_recipient, annual_amount from {{ ref('eligibility_pip') }}
),

provinces as (
    select * from {{ ref('province_bank') }}
),

rules as (
    select * from {{ ref('int_rules__versioned') }}
)

select
    rules.snapshot,
    u.program,
    u.province_code,
    p.province_name,
    u.desil,
    count(*) as eligible,
    count(*) filter (where u.is_recipient) as recipients,
    count(*) filter (where not u.is_recipient) as cut_by_quota,
    count(distinct u.family_id) filter (where u.is_recipient) as recipient_families,
    cast(coalesce(sum(u.persons) filter (where u.is_recipient), 0) as bigint) as persons_covered,
    cast(coalesce(sum(u.annual_amount) filter (where u.is_recipient), 0) as bigint) as annual_budget,
    rules.rule_version
from units u
left join provinces p using (province_code)
cross join rules
group by all
