-- PKH per family: components of its members, capped at max_components (the highest amounts are kept),
-- the annual amount and the amount of one tranche.
with components as (
    select * from {{ ref('int_persons__pkh_components') }}
),

params as (
    select * from {{ ref('program_parameters') }} where program = 'PKH'
),

ranked as (
    select
        c.*,
        row_number() over (partition by family_id order by annual_amount desc, priority, person_id) as component_rank
    from components c
)

select
    r.family_id,
    count(*) as components_found,
    count(*) filter (where r.component_rank <= p.max_components) as components_paid,
    string_agg(r.component || ':' || r.person_id, ',' order by r.component_rank)
        filter (where r.component_rank <= p.max_components) as components,
    string_agg(r.component || ':' || r.person_id, ',' order by r.component_rank)
        filter (where r.component_rank > p.max_components) as components_over_cap,
    cast(sum(r.annual_amount) filter (where r.component_rank <= p.max_components) as bigint) as annual_amount,
    cast(sum(r.annual_amount) filter (where r.component_rank <= p.max_components) * any_value(p.months_per_payment)
         / 12 as bigint) as tranche_amount
from ranked r
cross join params p
group by r.family_id
