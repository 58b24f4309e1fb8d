-- Every exclusion of the snapshot with its reason: nobody is silently filtered out of a program.
with exclusions as (
    select * from {{ ref('int_exclusions__listed') }}
),

persons as (
    select person_id, nik_pseudo from {{ ref('stg_dtsen__persons') }}
),

families as (
    select family_id, no_kk_pseudo, province_code from {{ ref('stg_dtsen__families') }}
),

rules as (
    select * from {{ ref('int_rules__versioned') }}
)

select
    rules.snapshot,
    e.unit,
    e.person_id,
    p.nik_pseudo,
    e.family_id,
    f.no_kk_pseudo,
    f.province_code,
    e.reason,
    e.detail,
    e.case_number,
    rules.rule_version
from exclusions e
left join persons p using (person_id)
left join families f using (family_id)
cross join rules
