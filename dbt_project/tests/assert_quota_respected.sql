{{ config(meta={'description': 'Recipients never exceed a province\'s quota, and the poorest go first: within a province every recipient has a lower (or equal) predicted consumption than every unit cut by quota.', 'dagster': {'ref': {'name': 'eligibility_pkh'}}}) }}
-- Recipients never exceed a province's quota, and the poorest go first:
-- within a province every recipient has a lower (or equal) predicted consumption than every unit cut by quota.
with units as (
    select 'PKH' as program, province_code, is_recipient, status, predicted_pcc, province_quota
    from {{ ref('eligibility_pkh') }}
    union all select 'SEMBAKO', province_code, is_recipient, status, predicted_pcc, province_quota
    from {{ ref('eligibility_sembako') }}
    union all select 'PBI', province_code, is_recipient, status, predicted_pcc, province_quota
    from {{ ref('eligibility_pbi') }}
    union all select 'PIP', province_code, is_recipient, status, predicted_pcc, province_quota
    from {{ ref('eligibility_pip') }}
),
per_province as (
    select program, province_code, any_value(province_quota) as quota,
           count(*) filter (where is_recipient) as recipients,
           max(predicted_pcc) filter (where is_recipient) as richest_recipient,
           min(predicted_pcc) filter (where status = 'cut_by_quota') as poorest_cut
    from units group by program, province_code
)
select * from per_province
where recipients > coalesce(quota, 0)
   or richest_recipient > poorest_cut
