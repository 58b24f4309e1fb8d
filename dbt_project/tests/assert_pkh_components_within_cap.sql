{{ config(meta={'description': 'No PKH family is paid for more components than the seed\'s cap.', 'dagster': {'ref': {'name': 'eligibility_pkh'}}}) }}
-- No PKH family is paid for more components than the seed's cap.
select e.family_id, e.components_paid, p.max_components
from {{ ref('eligibility_pkh') }} e
cross join (select * from {{ ref('program_parameters') }} where program = 'PKH') p
where e.components_paid > p.max_components
   or e.components_paid < 1
   or len(string_split(e.components, ',')) <> e.components_paid
