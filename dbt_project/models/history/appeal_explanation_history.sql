-- For appeals (sanggahan), every built snapshot: one row per snapshot, family and program saying whether the family
-- receives it and every rule that decided it, so a caseworker can answer "why not me?" from one row. A build of one
-- month replaces that month's rows only; marts.appeal_explanation is the built month's rows.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='snapshot',
          on_schema_change='append_new_columns') }}

with families as (
    select * from {{ ref('int_families__assessed') }}
),

programs as (
    select program, unit, desil_min, desil_max from {{ ref('program_parameters') }}
    where program in ('PKH', 'SEMBAKO', 'PBI', 'PIP')
),

member_exclusions as (
    select family_id, string_agg(reason || ':' || person_id, ',' order by person_id, reason) as member_exclusions
    from {{ ref('int_exclusions__listed') }} where unit = 'person' group by family_id
),

objections as (  -- approved sanggahan cases behind an exclusion of the family or one of its members
    select family_id, string_agg(case_number, ',' order by case_number) as objection_cases,
           string_agg(detail, '; ' order by case_number) as objection_details
    from {{ ref('int_exclusions__listed') }} where case_number is not null group by family_id
),

pkh_components as (
    select * from {{ ref('int_families__pkh_entitlement') }}
),

family_programs as (
    select 'PKH' as program, family_id, status, annual_amount, quota_rank, province_quota, 1 as eligible_units,
           case when is_recipient then 1 else 0 end as recipient_units
    from {{ ref('eligibility_pkh') }}
    union all
    select 'SEMBAKO', family_id, status, annual_amount, quota_rank, province_quota, 1,
           case when is_recipient then 1 else 0 end
    from {{ ref('eligibility_sembako') }}
),

person_programs as (
    select program, family_id,
           case when bool_or(is_recipient) then 'recipient' else 'cut_by_quota' end as status,
           cast(sum(annual_amount) filter (where is_recipient) as bigint) as annual_amount,
           min(quota_rank) as quota_rank,
           -- members can live in different provinces: the quota of the best-ranked member's province (any_value
           -- gave a different one from run to run for the families whose members' provinces differ)
           arg_min(province_quota, (quota_rank, province_quota)) as province_quota,
           count(*) as eligible_units, count(*) filter (where is_recipient) as recipient_units
    from (
        select 'PBI' as program, * from {{ ref('eligibility_pbi') }}
        union all by name
        select 'PIP' as program, * from {{ ref('eligibility_pip') }}
    ) group by program, family_id
),

decided as (
    select * from family_programs union all select * from person_programs
),

rules as (
    select * from {{ ref('int_rules__versioned') }}
),

joined as (
    select
        f.snapshot,
        f.family_id,
        f.no_kk_pseudo,
        f.province_code,
        f.regency_code,
        pr.program,
        pr.unit,
        coalesce(d.status, 'not_eligible') as decision,
        coalesce(d.annual_amount, 0) as annual_amount,
        f.desil,
        f.predicted_pcc,
        f.desil between pr.desil_min and pr.desil_max as desil_rule_passed,
        'desil ' || coalesce(cast(f.desil as varchar), 'unknown')
            || case when f.desil between pr.desil_min and pr.desil_max then ' within ' else ' outside ' end
            || cast(pr.desil_min as varchar) || '-' || cast(pr.desil_max as varchar) as desil_rule,
        f.family_exclusions,
        m.member_exclusions,
        o.objection_cases,
        o.objection_details,
        case when pr.program = 'PKH' then c.components end as pkh_components,
        case when pr.program = 'PKH' then c.components_over_cap end as pkh_components_over_cap,
        d.eligible_units,
        d.recipient_units,
        d.quota_rank,
        d.province_quota
    from families f
    cross join programs pr
    left join decided d on d.family_id = f.family_id and d.program = pr.program
    left join member_exclusions m on m.family_id = f.family_id
    left join objections o on o.family_id = f.family_id
    left join pkh_components c on c.family_id = f.family_id
)

select
    joined.*,
    concat_ws('; ',
        desil_rule,
        case when family_exclusions is not null then 'family excluded: ' || family_exclusions end,
        case when member_exclusions is not null then 'members excluded: ' || member_exclusions end,
        case when objection_cases is not null then 'objection upheld: ' || objection_details end,
        case when program = 'PKH' and desil_rule_passed and family_exclusions is null and pkh_components is null
             then 'no PKH component (no pregnant member, child 0-6, pupil, severe disability or elderly)' end,
        case when program = 'PKH' and pkh_components is not null then 'components: ' || pkh_components end,
        case when pkh_components_over_cap is not null then 'over the component cap: ' || pkh_components_over_cap end,
        case when program = 'PIP' and desil_rule_passed and family_exclusions is null and eligible_units is null
             then 'no pupil within the age limit' end,
        case when decision = 'cut_by_quota'
             then 'eligible but beyond the province quota (rank ' || cast(quota_rank as varchar) || ' of quota '
                  || cast(province_quota as varchar) || ')' end,
        case when decision = 'cut_no_regional_quota' then 'eligible but the family has no known province' end,
        case when decision = 'recipient' then 'recipient: ' || cast(annual_amount as varchar) || ' a year' end
    ) as explanation,
    rules.rule_version
from joined
cross join rules
