{{ config(meta={'description': 'No PKH family outside the program\'s desil range (1-4 in the seed).', 'dagster': {'ref': {'name': 'eligibility_pkh'}}}) }}
-- No PKH family outside the program's desil range (1-4 in the seed).
select e.family_id, e.desil
from {{ ref('eligibility_pkh') }} e
cross join (select * from {{ ref('program_parameters') }} where program = 'PKH') p
where e.desil not between p.desil_min and p.desil_max
