-- PBI-JK: living, not excluded persons of families in the program's desil range; the state pays the monthly
-- premium from the seed; quota allocation per province (persons of the poorest families first).
with rules as (
    select * from {{ ref('int_rules__versioned') }}
),

params as (
    select * from {{ ref('program_parameters') }} where program = 'PBI'
),

benefit as (
    select annual_amount from {{ ref('benefit_components') }} where program = 'PBI' and component = 'premium'
),

eligible as (
    select
        {{ eligible_person_columns('p') }},
        b.annual_amount,
        cast(b.annual_amount / 12 as bigint) as monthly_premium
    from {{ ref('int_persons__eligible_base') }} p
    cross join params pp
    cross join benefit b
    where p.desil between pp.desil_min and pp.desil_max
),

allocated as (
    {{ allocate_quota('PBI', 'eligible', 'person_id') }}
)

select
    allocated.*,
    rules.rule_version
from allocated
cross join rules
