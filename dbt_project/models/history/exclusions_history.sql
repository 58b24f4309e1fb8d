-- Every exclusion of every built snapshot with its reason and evidence: nobody is silently filtered out of a program.
-- A build of one month replaces that month's rows only; marts.exclusions is the built month's rows.
{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='snapshot',
          on_schema_change='append_new_columns') }}

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
