-- PKH: families in the program's desil range, not excluded, with at least one component; capped components,
-- annual and per-tranche amounts; quota allocation per province (the cut is kept with status).
with rules as (
    select * from {{ ref('int_rules__versioned') }}
),

params as (
    select * from {{ ref('program_parameters') }} where program = 'PKH'
),

eligible as (
    select
        {{ eligible_family_columns('f') }},
        e.components_found,
        e.components_paid,
        e.components,
        e.components_over_cap,
        e.annual_amount,
        e.tranche_amount
    from {{ ref('int_families__assessed') }} f
    join {{ ref('int_families__pkh_entitlement') }} e using (family_id)
    cross join params p
    where not f.is_excluded
      and f.desil between p.desil_min and p.desil_max
),

allocated as (
    {{ allocate_quota('PKH', 'eligible', 'family_id') }}
)

select
    allocated.*,
    rules.rule_version
from allocated
cross join rules
