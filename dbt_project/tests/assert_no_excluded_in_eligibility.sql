{{ config(meta={'description': 'No excluded person (or member of an excluded family) appears in any eligibility mart.', 'dagster': {'ref': {'name': 'exclusions'}}}) }}
-- No excluded person (or member of an excluded family) appears in any eligibility mart.
with excluded_persons as (
    select person_id from {{ ref('exclusions') }} where unit = 'person'
),
excluded_families as (
    select family_id from {{ ref('exclusions') }} where unit = 'family'
),
units as (
    select 'PKH' as program, family_id, null as person_id from {{ ref('eligibility_pkh') }}
    union all select 'SEMBAKO', family_id, null from {{ ref('eligibility_sembako') }}
    union all select 'PBI', family_id, person_id from {{ ref('eligibility_pbi') }}
    union all select 'PIP', family_id, person_id from {{ ref('eligibility_pip') }}
)
select u.*
from units u
where u.family_id in (select family_id from excluded_families)
   or u.person_id in (select person_id from excluded_persons)
