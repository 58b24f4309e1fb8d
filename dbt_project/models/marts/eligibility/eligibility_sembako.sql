-- Sembako (BPNT): families in the program's desil range, not excluded; monthly entitlement from the seed,
-- and the amount of one payment (months_per_payment months at once); quota allocation per province.
with rules as (
    select * from {{ ref('int_rules__versioned') }}
),

params as (
    select * from {{ ref('program_parameters') }} where program = 'SEMBAKO'
),

benefit as (
    select annual_amount from {{ ref('benefit_components') }} where program = 'SEMBAKO' and component = 'family'
),

eligible as (
    select
        {{ eligible_family_columns('f') }},
        b.annual_amount,
        cast(b.annual_amount / 12 as bigint) as monthly_amount,
        cast(b.annual_amount * p.months_per_payment / 12 as bigint) as payment_amount
    from {{ ref('int_families__assessed') }} f
    cross join params p
    cross join benefit b
    where not f.is_excluded
      and f.desil between p.desil_min and p.desil_max
),

allocated as (
    {{ allocate_quota('SEMBAKO', 'eligible', 'family_id') }}
)

select
    allocated.*,
    rules.rule_version
from allocated
cross join rules
