-- Living persons whose family is not excluded and who are not excluded themselves, with their family's desil.
with persons as (
    select * from {{ ref('int_persons__aged') }}
),

exclusions as (
    select * from {{ ref('int_exclusions__listed') }}
),

welfare as (
    select * from {{ ref('stg_welfare__family_welfare') }}
)

select
    p.*,
    w.desil,
    w.desil_province,
    w.predicted_pcc
from persons p
join welfare w using (family_id)
where p.person_id not in (select person_id from exclusions where unit = 'person')
  and p.family_id not in (select family_id from exclusions where unit = 'family')
