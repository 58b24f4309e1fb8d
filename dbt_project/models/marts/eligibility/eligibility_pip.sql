-- PIP: pupils (SD / SMP / SMA) within the seed's age limit, of families in the program's desil range, not
-- excluded; the yearly amount by school level from the seed; quota allocation per province.
with rules as (
    select * from {{ ref('int_rules__versioned') }}
),

params as (
    select * from {{ ref('program_parameters') }} where program = 'PIP'
),

levels as (
    select * from {{ ref('benefit_components') }} where program = 'PIP'
),

eligible as (
    select
        {{ eligible_person_columns('p') }},
        p.school_level,
        l.annual_amount
    from {{ ref('int_persons__eligible_base') }} p
    join levels l
      on l.school_level = p.school_level
     and (l.age_min is null or p.age >= l.age_min)
     and (l.age_max is null or p.age <= l.age_max)
    cross join params pp
    where p.desil between pp.desil_min and pp.desil_max
),

allocated as (
    {{ allocate_quota('PIP', 'eligible', 'person_id') }}
)

select
    allocated.*,
    rules.rule_version
from allocated
cross join rules
