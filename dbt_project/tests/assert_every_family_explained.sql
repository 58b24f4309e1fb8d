{{ config(meta={'description': 'The explanation mart has one row per family and program for every family of the snapshot.', 'dagster': {'ref': {'name': 'appeal_explanation'}}}) }}
-- The explanation mart has one row per family and program for every family of the snapshot.
with families as (select family_id from {{ ref('stg_dtsen__families') }}),
programs as (select program from {{ ref('program_parameters') }} where program in ('PKH', 'SEMBAKO', 'PBI', 'PIP'))
select f.family_id, p.program
from families f cross join programs p
anti join {{ ref('appeal_explanation') }} a on a.family_id = f.family_id and a.program = p.program
