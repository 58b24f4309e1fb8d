-- The PKH component each eligible person brings (at most one: the highest annual amount, then the seed priority).
-- A component applies when its person_flag (pregnant / disability) is set on the person, the age is within
-- age_min..age_max and the school level matches, for those of the three the seed fills in.
with persons as (
    select * from {{ ref('int_persons__eligible_base') }}
),

components as (
    select * from {{ ref('benefit_components') }} where program = 'PKH'
),

matches as (
    select
        p.person_id,
        p.family_id,
        c.component,
        c.annual_amount,
        c.priority
    from persons p
    join components c
      on (c.person_flag is null
          or (c.person_flag = 'pregnant' and p.pregnant = 1 and p.sex = 2)
          or (c.person_flag = 'disability' and p.disability = 1))
     and (c.age_min is null or p.age >= c.age_min)
     and (c.age_max is null or p.age <= c.age_max)
     and (c.school_level is null or p.school_level = c.school_level)
)

select
    person_id,
    family_id,
    arg_min(component, [-annual_amount, priority]) as component,
    max(annual_amount) as annual_amount,
    arg_min(priority, [-annual_amount, priority]) as priority
from matches
group by person_id, family_id
