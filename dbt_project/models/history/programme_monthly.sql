-- The monthly series analysts chart: per built snapshot, province and program, families eligible and receiving,
-- families that entered and left, and the annual budget of the recipients.
with decisions as (
    select snapshot, program, province_code,
           count(*) filter (where decision <> 'not_eligible') as eligible_families,
           count(*) filter (where decision = 'recipient') as recipient_families,
           cast(sum(annual_amount) filter (where decision = 'recipient') as bigint) as annual_budget
    from {{ ref('appeal_explanation_history') }}
    group by all
),

changes as (
    select snapshot, program, province_code,
           count(*) filter (where change = 'entered') as entered,
           count(*) filter (where change = 'left') as left_program
    from {{ ref('programme_changes') }}
    group by all
)

select
    d.snapshot,
    d.program,
    d.province_code,
    p.province_name,
    d.eligible_families,
    d.recipient_families,
    coalesce(c.entered, 0) as entered,
    coalesce(c.left_program, 0) as left_program,
    coalesce(d.annual_budget, 0) as annual_budget
from decisions d
left join changes c using (snapshot, program, province_code)
left join {{ ref('stg_registries__provinces') }} p using (province_code)
