{{ config(meta={'description': 'A program paying one fixed amount can pay its whole national quota within its annual budget, and its regional quotas add up to the national one.', 'dagster': {'ref': {'name': 'program_parameters'}}}) }}
-- A program that pays one fixed amount (Sembako, PBI-JK) must be able to pay its whole national quota within its
-- annual budget: otherwise every month that fills the quota fails the disbursement release check
-- within_quota_and_budget (found at 3 M persons, when Sembako's 18.8 M x 2,400,000 exceeded a 45.1 T budget).
-- The regional quotas must add up to the national one.
with flat as (
    select program, max(annual_amount) as annual_amount
    from {{ ref('benefit_components') }}
    group by program
    having count(*) = 1
),

regional as (
    select program, sum(quota) as quota from {{ ref('program_quota') }} group by program
)

select p.program, p.national_quota, f.annual_amount, p.annual_budget, r.quota as regional_quota_sum
from {{ ref('program_parameters') }} p
left join flat f using (program)
left join regional r using (program)
where p.national_quota * f.annual_amount > p.annual_budget
   or r.quota is distinct from p.national_quota
