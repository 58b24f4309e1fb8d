-- Who entered, left or stayed in each program this snapshot, per family, against the previous built snapshot; for
-- leavers the reason and its evidence. A family is "in" a program when it receives it (decision = recipient).
-- Reasons, first that applies: left_dtsen (the family is no longer in DTSEN: moved out of scope, merged, or all
-- members gone), objection (an approved sanggahan, its case in the evidence), death (a member's death record excludes them or the family), new_exclusion (civil servant, wage
-- above the minimum, ...), desil_moved (the ranking moved the family out of the program's desil range),
-- no_component (PKH/PIP: no member qualifies any more), quota_cut (still eligible, beyond the province quota).
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='snapshot') }}

with current_month as (
    select * from {{ ref('appeal_explanation') }}
),

previous_snapshot as (
    select max(h.snapshot) as snapshot
    from {{ ref('appeal_explanation_history') }} h
    where h.snapshot < (select max(snapshot) from current_month)
),

previous_month as (
    select h.* from {{ ref('appeal_explanation_history') }} h
    join previous_snapshot p on h.snapshot = p.snapshot
),

joined as (
    select
        (select max(snapshot) from current_month) as snapshot,
        (select snapshot from previous_snapshot) as previous_snapshot,
        coalesce(c.program, p.program) as program,
        coalesce(c.family_id, p.family_id) as family_id,
        coalesce(c.province_code, p.province_code) as province_code,
        coalesce(c.regency_code, p.regency_code) as regency_code,
        p.decision as previous_decision,
        c.decision,
        p.desil as previous_desil,
        c.desil,
        c.family_id is null as left_dtsen,
        c.desil_rule_passed,
        c.family_exclusions,
        c.member_exclusions,
        c.objection_cases,
        c.desil_rule,
        c.explanation
    from current_month c
    full outer join previous_month p on p.family_id = c.family_id and p.program = c.program
    where c.decision = 'recipient' or p.decision = 'recipient'
)

select
    snapshot,
    previous_snapshot,
    program,
    family_id,
    province_code,
    regency_code,
    case when previous_decision = 'recipient' and decision = 'recipient' then 'stayed'
         when decision = 'recipient' then 'entered'
         else 'left' end as change,
    previous_decision,
    coalesce(decision, 'not_in_dtsen') as decision,
    previous_desil,
    desil,
    case when decision = 'recipient' then null
         when left_dtsen then 'left_dtsen'
         when objection_cases is not null then 'objection'
         when coalesce(family_exclusions, '') like '%deceased%' or coalesce(member_exclusions, '') like '%deceased%'
              then 'death'
         when family_exclusions is not null or member_exclusions is not null then 'new_exclusion'
         when not coalesce(desil_rule_passed, false) then 'desil_moved'
         when decision = 'not_eligible' then 'no_component'
         else 'quota_cut' end as reason,
    case when decision = 'recipient' then null
         when left_dtsen then 'the family is not in this DTSEN snapshot'
         else explanation end as evidence
from joined
where previous_snapshot is not null or decision = 'recipient'
