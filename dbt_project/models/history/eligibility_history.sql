-- Every built snapshot's eligibility rows of the four programs in one shape (family programs per family, person
-- programs per person), kept month after month.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='snapshot') }}

select snapshot, 'PKH' as program, 'family' as unit, family_id, null::varchar as person_id, province_code,
       regency_code, village_code, desil, status, is_recipient, annual_amount, quota_rank, province_quota, rule_version
from {{ ref('eligibility_pkh') }}
union all
select snapshot, 'SEMBAKO', 'family', family_id, null, province_code, regency_code, village_code, desil, status,
       is_recipient, annual_amount, quota_rank, province_quota, rule_version
from {{ ref('eligibility_sembako') }}
union all
select snapshot, 'PBI', 'person', family_id, person_id, province_code, regency_code, village_code, desil, status,
       is_recipient, monthly_premium * 12, quota_rank, province_quota, rule_version
from {{ ref('eligibility_pbi') }}
union all
select snapshot, 'PIP', 'person', family_id, person_id, province_code, regency_code, village_code, desil, status,
       is_recipient, annual_amount, quota_rank, province_quota, rule_version
from {{ ref('eligibility_pip') }}
